// module.cpp — the library's entry: PG_MODULE_MAGIC and _PG_init (GUCs).
// Layer: pg glue. Regime: PostgreSQL (no C++ objects with destructors).
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/guc.h"
PG_MODULE_MAGIC;
void _PG_init(void);
}

extern "C" void _PG_init(void)
{
    MarkGUCPrefixReserved("denorm");
}
