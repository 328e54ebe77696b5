// created_rows.hpp — target rows that create_missing inserted during the current
// statement. Their BEFORE INSERT initialiser counted every row the statement wrote,
// so no later trigger of the same statement may add its delta for them again.
// A statement may fire several statement triggers (ON CONFLICT: INSERT and UPDATE;
// MERGE: up to three): the set lives until the executor finishes that statement,
// which an ExecutorFinish hook observes. Layer: pg glue.
#pragma once

#include <string_view>

namespace denorm::pg {

void created_rows_install_hook();

// Whether `row` (an encoded target row) was created in the current statement.
bool created_rows_contains(std::string_view row);
void created_rows_note(std::string_view row);

// Called at the end of a trigger call: forgets what no enclosing statement scope
// will clear (when the library was loaded after the statement started).
void created_rows_end_of_trigger();

}  // namespace denorm::pg
