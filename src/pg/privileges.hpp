// privileges.hpp — who may do what, and running a statement as someone else: the
// public API functions check the caller's ownership themselves, then run their
// internal SQL as the extension's owner (catalog, audit) or as a table's owner
// (counter values), the way foreign-key checks run as the referenced table's owner.
// Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
}

namespace denorm::pg {

Oid owner_of(Oid relid);

// 42501 unless the caller owns relid (or is a superuser); `what` and `hint` go
// into the message.
void require_owner(Oid relid, const char *what, const char *hint);

// The owner of the extension's catalog.
Oid extension_owner();

// Runs one statement as `role` (SPI must be connected). An error keeps its
// SQLSTATE, message and hint but loses the CONTEXT lines of our internal
// PL/pgSQL, which would only confuse the caller.
void execute_as(Oid role, const char *sql, int nargs, Oid *types, Datum *values, const char *nulls);

}  // namespace denorm::pg
