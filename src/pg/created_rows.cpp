// created_rows.cpp — see created_rows.hpp. Layer: pg glue. Regime: mixed, kept
// apart: the set is a heap C++ object reached only through functions that catch
// bad_alloc; the ExecutorFinish hook holds no C++ object across PostgreSQL calls.
#include "pg/created_rows.hpp"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "executor/executor.h"
}

#include <string>
#include <unordered_map>

namespace denorm::pg {
namespace {

// encoded row -> executor depth of the statement that created it
using RowDepths = std::unordered_map<std::string, int>;
RowDepths *rows = nullptr;  // heap, created on first use, never freed (cleared)
int executor_depth = 0;     // ExecutorFinish calls in progress (only those we saw start)
ExecutorFinish_hook_type previous_finish = nullptr;
bool hooks_installed = false;

void forget_from_depth(int depth) noexcept
{
    if (!rows || rows->empty()) return;
    for (auto it = rows->begin(); it != rows->end();)
        it = it->second >= depth ? rows->erase(it) : std::next(it);
}

// Wraps every ExecutorFinish: a statement's AFTER triggers fire inside it, so
// when it returns, the rows created by that statement's triggers are forgotten.
void denorm_executor_finish(QueryDesc *query_desc)
{
    executor_depth++;
    PG_TRY();
    {
        if (previous_finish)
            previous_finish(query_desc);
        else
            standard_ExecutorFinish(query_desc);
    }
    PG_CATCH();
    {
        forget_from_depth(executor_depth);
        executor_depth--;
        PG_RE_THROW();
    }
    PG_END_TRY();
    forget_from_depth(executor_depth);
    executor_depth--;
}

void on_xact(XactEvent event, void *)
{
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
        event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT) {
        forget_from_depth(0);
        executor_depth = 0;
    }
}

void on_subxact(SubXactEvent event, SubTransactionId, SubTransactionId, void *)
{
    // Rows created inside an aborted subtransaction are gone.
    if (event == SUBXACT_EVENT_ABORT_SUB) forget_from_depth(0);
}

}  // namespace

void created_rows_install_hook()
{
    if (hooks_installed) return;
    previous_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = denorm_executor_finish;
    RegisterXactCallback(on_xact, nullptr);
    RegisterSubXactCallback(on_subxact, nullptr);
    hooks_installed = true;
}

bool created_rows_contains(std::string_view row)
{
    // Only rows created by triggers of this same statement: a nested statement's
    // writes come after the initialiser ran and must still be applied.
    if (!rows || rows->empty()) return false;
    bool found = false, failed = false;
    try {
        auto it = rows->find(std::string(row));
        found = it != rows->end() && it->second == executor_depth;
    } catch (const std::bad_alloc &) {
        failed = true;
    }
    if (failed) ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
    return found;
}

void created_rows_note(std::string_view row)
{
    bool failed = false;
    try {
        if (!rows) rows = new RowDepths();
        (*rows)[std::string(row)] = executor_depth;
    } catch (const std::bad_alloc &) {
        failed = true;
    }
    if (failed) ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
}

void created_rows_end_of_trigger()
{
    if (executor_depth == 0) forget_from_depth(0);
}

}  // namespace denorm::pg
