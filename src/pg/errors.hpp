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
#include <new>
#include <optional>
#include <string>
#include <vector>

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

// Reports a C++ exception caught at the boundary (message copied out first);
// nullptr: std::bad_alloc, reported as PostgreSQL reports running out of memory.
[[noreturn]] void raise_cxx_failure(const char *what);

// Runs body, which may throw C++ exceptions, and returns what it returns; an exception
// becomes an ERROR raised after the catch handler has closed (so no C++ object is
// alive when ereport longjmps). The one way C++ code is entered from PostgreSQL: every
// SQL-callable function (DENORM_FUNCTION below) and every C++ section of the glue.
template <typename Body>
auto guarded(Body &&body) -> decltype(body())
{
    const char *failure = nullptr;
    char buffer[256];
    try {
        return body();
    } catch (const std::bad_alloc &) {
        failure = nullptr;
    } catch (const std::exception &e) {
        strlcpy(buffer, e.what(), sizeof buffer);
        failure = buffer;
    } catch (...) {
        failure = "unknown C++ exception";
    }
    raise_cxx_failure(failure);
}

// Copies of C++ strings palloc'd in the current memory context, for use inside a
// guarded() section: an allocation failure throws std::bad_alloc instead of raising
// an ERROR while C++ objects are alive.
inline char *palloc_string(const std::string &text)
{
    auto *copy = static_cast<char *>(palloc_extended(text.size() + 1, MCXT_ALLOC_NO_OOM));
    if (!copy) throw std::bad_alloc();
    memcpy(copy, text.c_str(), text.size() + 1);
    return copy;
}
inline char **palloc_strings(const std::vector<std::string> &texts)
{
    auto **out = static_cast<char **>(palloc_extended(sizeof(char *) * (texts.size() + 1), MCXT_ALLOC_NO_OOM));
    if (!out) throw std::bad_alloc();
    for (size_t i = 0; i < texts.size(); i++) out[i] = palloc_string(texts[i]);
    out[texts.size()] = nullptr;
    return out;
}

// Runs body, a C++ function returning std::string (statement text from the core), and
// gives the text palloc'd in the current memory context. The copy is made inside
// guarded() with an allocation that cannot raise an error, so no C++ object is alive
// when PostgreSQL might.
template <typename Body>
char *guarded_string(Body &&body)
{
    return guarded([&] { return palloc_string(body()); });
}

// Runs a core check (a callable returning std::optional<core::Problem>) and raises its
// problem, if any, once no C++ object is alive.
template <typename Check>
void raise_problem(Check &&check)
{
    raise_if(guarded([&] { return copy_problem(check()); }));
}

}  // namespace denorm::pg

// Defines the SQL-callable function `name` (its PG_FUNCTION_INFO_V1 and extern "C"
// symbol) with the body that follows, run under guarded():
//     DENORM_FUNCTION(denorm_orderable) { ... PG_RETURN_BOOL(...); }
#define DENORM_FUNCTION(name)                                                                    \
    static Datum name##_body(FunctionCallInfo fcinfo);                                           \
    extern "C" {                                                                                 \
    PG_FUNCTION_INFO_V1(name);                                                                   \
    }                                                                                            \
    extern "C" Datum name(PG_FUNCTION_ARGS)                                                      \
    {                                                                                            \
        return denorm::pg::guarded([fcinfo] { return name##_body(fcinfo); });                    \
    }                                                                                            \
    static Datum name##_body(FunctionCallInfo fcinfo)
