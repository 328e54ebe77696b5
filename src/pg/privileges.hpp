// privileges.hpp — who may do what, and the one way denorm runs SQL on someone's
// behalf (README "Security"). Public functions check the caller's rights
// themselves; then catalog work runs as the extension's owner and every statement
// on a user's table runs as that table's owner, the way foreign-key checks run as
// the referenced table's owner and VACUUM or REFRESH run as the table's owner.
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

// Whether the current user may see denorm's rows about relation `rel` (logs, audit,
// status, pending deltas): it may SELECT from rel, or has the privileges of
// pg_monitor. A relation that no longer exists is seen by pg_monitor only.
bool may_see(Oid rel);

// The identity and settings of a statement run for someone, as PostgreSQL runs a
// foreign-key action on the referencing table: `role` as a local user-id change (code
// that fires there cannot SET ROLE or SET SESSION AUTHORIZATION), the role's forced row
// security not applied, and search_path pinned to pg_catalog, pg_temp so that no
// function, operator or table in the caller's schemas can stand in for one the
// statement names. Not a security-restricted operation: the target's deferred
// constraints (a deferred foreign key of a row create_missing inserts) must be
// queued, as a foreign-key action queues them. run_as_end restores; if an error
// escapes instead, the (sub)transaction abort restores both the user and the GUC level.
struct RunAs {
    Oid save_user;
    int save_sec;
    int guc_nest;  // -1 while not pinned
};
void run_as_begin(RunAs *state, Oid role);
// The same without pinning search_path: only for a statement on denorm's own tables
// that qualifies every name, type and function it uses and fires no user code (the
// refresh request a writer appends at commit).
void run_as_begin_unpinned(RunAs *state, Oid role);
// Another role for the next statement of the same run (a batch writing several
// owners' tables).
void run_as_switch(RunAs *state, Oid role);
// Pins search_path for the rest of a run begun unpinned, before its first statement
// (a run that may write every row without one, direct_update.hpp, pins only if it
// needs a statement after all). No-op when pinned.
void run_as_pin(RunAs *state);
void run_as_end(const RunAs *state);

// The search_path every statement denorm runs on someone's behalf resolves names in.
extern const char *const kPinnedSearchPath;

// The pinned search_path alone (parsing and preparing our statements): pin returns
// the GUC level unpin pops; with_fixed_search_path runs fn between the two, so what it
// parses or prepares does not depend on the caller's search_path.
int pin_search_path();
void unpin_search_path(int nest);
void with_fixed_search_path(void (*fn)(void *), void *arg);

// Runs one statement as `role` under run_as (SPI must be connected). An error
// keeps its SQLSTATE, message and hint but loses the CONTEXT lines of our internal
// PL/pgSQL, which would only confuse the caller.
// read_only: under the caller's snapshot, for a function that only reads.
void execute_as(Oid role, const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
                bool read_only = false);

}  // namespace denorm::pg
