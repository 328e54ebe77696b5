// module.cpp — the library's entry: PG_MODULE_MAGIC and _PG_init (GUC prefix,
// executor hook). Layer: pg glue. Regime: PostgreSQL.
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/guc.h"
PG_MODULE_MAGIC;
void _PG_init(void);
}

#include "pg/statement_batch.hpp"

extern "C" void _PG_init(void)
{
    MarkGUCPrefixReserved("denorm");
    denorm::pg::statement_batch_install_hook();
}
