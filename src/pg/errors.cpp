// errors.cpp — ereport side of the boundary. Layer: pg glue. Regime: PostgreSQL
// (the Problem is copied into palloc'd strings before ereport longjmps).
#include "pg/errors.hpp"

namespace denorm::pg {

PgProblem *copy_problem(const std::optional<core::Problem> &problem)
{
    if (!problem) return nullptr;
    // Allocations that cannot raise an ERROR: this runs while the Problem (a C++
    // object) is alive, possibly inside guarded().
    auto *copy = static_cast<PgProblem *>(palloc_extended(sizeof(PgProblem), MCXT_ALLOC_NO_OOM));
    if (!copy) throw std::bad_alloc();
    copy->sqlstate = core::sqlstate_of(problem->kind);
    copy->message = palloc_string(problem->message);
    copy->hint = problem->hint.empty() ? nullptr : palloc_string(problem->hint);
    return copy;
}

void raise_if(const PgProblem *problem)
{
    if (!problem) return;
    const char *code = problem->sqlstate;
    ereport(ERROR, (errcode(MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])),
                    errmsg_internal("%s", problem->message), problem->hint ? errhint("%s", problem->hint) : 0));
}

void raise_cxx_failure(const char *what)
{
    if (!what) ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("denorm internal error: %s", what)));
    pg_unreachable();
}

void require_arguments(FunctionCallInfo fcinfo, const char *const *required, int nargs)
{
    for (int i = 0; i < nargs; i++)
        if (required[i] && PG_ARGISNULL(i))
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s must not be NULL", required[i])));
}

}  // namespace denorm::pg
