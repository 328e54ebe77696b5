// errors.hpp — the C++/PostgreSQL error boundary. Layer: pg glue.
// copy_problem()/raise_if() turn a core Problem into ereport(ERROR) with its kind's
// SQLSTATE (core/error_kind.hpp).
// guarded() runs an entry point's body, catching C++ exceptions; it reports them
// with ereport only after the catch handler has closed.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

#include <exception>
#include <optional>

#include "core/definition_rules.hpp"

namespace denorm::pg {

// A Problem copied into palloc'd memory, so it can be raised after every C++
// object that held it is gone (ereport longjmps over the caller's frames).
struct PgProblem {
    const char *sqlstate;
    const char *message;
    const char *hint;  // NULL when none
};

// nullptr when there is no problem; otherwise a palloc'd copy.
PgProblem *copy_problem(const std::optional<core::Problem> &problem);

// Raises a copied problem (no-op for nullptr).
void raise_if(const PgProblem *problem);

// 22023 naming the first argument i that is NULL while required[i] names it
// (required[i] = nullptr: NULL is allowed). SQL functions that refuse NULL are
// CALLED ON NULL INPUT and say so, rather than STRICT and silently doing nothing.
void require_arguments(FunctionCallInfo fcinfo, const char *const *required, int nargs);

// Reports a C++ exception caught at the boundary (message copied out first).
[[noreturn]] void raise_cxx_failure(const char *what);

template <typename Body>
Datum guarded(Body &&body)
{
    const char *failure = nullptr;
    char buffer[256];
    try {
        return body();
    } catch (const std::exception &e) {
        strlcpy(buffer, e.what(), sizeof buffer);
        failure = buffer;
    } catch (...) {
        failure = "unknown C++ exception";
    }
    raise_cxx_failure(failure);
}

}  // namespace denorm::pg
