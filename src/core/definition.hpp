// definition.hpp — one counter definition as a plain value: what denorm._definitions
// holds, resolved against the catalog by the loader (src/pg/counters/definition_loader):
// names already quoted, expressions deparsed so they mean the same under any
// search_path, column types spelled as SQL. Every statement the extension runs for a
// definition is generated from these values (core/statements.hpp).
// Layer: core (pure C++17).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/definition_rules.hpp"

namespace denorm::core {

struct Column {
    std::string name;   // as in the catalog: orders key columns (key_order)
    std::string ident;  // quoted for SQL
    std::string type;   // its SQL type with typmod, for casts to it
    bool collatable = false;  // text-like: locked in COLLATE "C" order (lock_order)
};

struct Definition {
    std::string name;                         // counter name, unquoted
    Aggregate kind = Aggregate::Count;
    std::string target;                       // schema-qualified, quoted
    std::string source;                       // schema-qualified, quoted
    std::vector<Column> target_columns;       // one, or a latest's columns
    std::vector<Column> target_key;           // parallel to source_key
    std::vector<std::string> source_key;      // quoted source columns
    std::optional<std::string> value;         // count: none
    std::optional<std::string> filter;        // none: every row
    std::vector<std::string> source_values;   // latest: copied into target_columns
    std::vector<std::string> order_by;        // latest: the greatest tuple wins
    std::optional<std::string> touch;         // quoted timestamp column
    bool create_missing = false;
    bool deferred = false;
};

// The one order of a target key's columns: by column name, byte by byte (COLLATE "C").
// Writers lock target rows in it, statements that lock many rows ORDER BY it, and a
// deferred counter's pending key lists the values in it. Returns positions into `key`.
// (Within a column, writers order integers numerically and text byte by byte:
// pg/counters/key_encoding.hpp.)
std::vector<size_t> key_order(const std::vector<Column> &key);

// The definitions on one target, in name order (the loader's set).
using TargetDefinitions = std::vector<Definition>;

}  // namespace denorm::core
