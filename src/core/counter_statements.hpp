// counter_statements.hpp — the statements a writer runs for a count or sum definition
// that is not deferred: the UPDATE that adds a statement's net change to the target
// row, and (create_missing) the INSERT ... ON CONFLICT that creates the row first.
// Generated from a plain value whose names are already quoted; every operator is
// qualified. Parameters: $1 the delta, $2.. the target key values, in the order of
// `key`. Layer: core (pure C++17).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace denorm::core {

struct AdditiveTarget {
    std::string table;                 // schema-qualified and quoted, e.g. public.user_stats
    std::string column;                // quoted counter column
    std::vector<std::string> key;      // quoted target key columns, matched to $2, $3, ...
    std::optional<std::string> touch;  // quoted timestamp column set to now() on a change
};

// UPDATE <table> AS t SET <column> = t.<column> + $1[, <touch> = now()] WHERE <key> = $2 ...
std::string apply_statement(const AdditiveTarget &target);

// INSERT ... VALUES (key..., $1) ON CONFLICT (key) DO UPDATE SET <the same SET>, returning
// whether the row was inserted (its BEFORE INSERT initialiser then counted the whole
// statement already) rather than updated.
std::string upsert_statement(const AdditiveTarget &target);

}  // namespace denorm::core
