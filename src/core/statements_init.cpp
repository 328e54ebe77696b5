// statements_init.cpp — the query a target's BEFORE INSERT trigger runs for a new row
// (core/statements.hpp): every counter column's value from index probes of its
// sources, so a row inserted by hand or by create_missing starts exact.
// Layer: core (pure C++17).
#include <algorithm>

#include "core/statement_parts.hpp"
#include "core/statements.hpp"

namespace denorm::core {

using namespace parts;

namespace {

// The parameters are the key columns in first-seen order: d's key columns not yet
// among them are appended; returns $n of each of d's target key columns.
std::vector<std::string> key_params(const Definition &d, std::vector<std::string> &key_columns)
{
    std::vector<std::string> out;
    for (const Column &k : d.target_key) {
        auto at = std::find(key_columns.begin(), key_columns.end(), k.name);
        if (at == key_columns.end()) at = key_columns.insert(key_columns.end(), k.name);
        out.push_back(param(static_cast<size_t>(at - key_columns.begin()) + 1));
    }
    return out;
}

}  // namespace

InitQuery init_query(const TargetDefinitions &on_target)
{
    InitQuery init;
    std::vector<std::string> outputs;
    // Count and sum columns, by name; each the sum of its definitions' contributions.
    std::vector<std::string> additive;
    for (const Definition &d : on_target)
        if (family_of(d.kind) == Family::Additive) additive.push_back(d.target_columns[0].name);
    std::sort(additive.begin(), additive.end());
    additive.erase(std::unique(additive.begin(), additive.end()), additive.end());
    for (const std::string &column : additive) {
        std::string expr = "0";
        const Definition *first = nullptr;
        for (const Definition *d : additive_on(on_target, column)) {
            expr += " + " + contribution_sql(*d, key_params(*d, init.key_columns));
            first = first ? first : d;
        }
        init.counter_columns.push_back(column);
        outputs.push_back("(" + expr + ")::" + first->target_columns[0].type);
    }
    // min, max and latest groups, each joined once (its first definition names the key).
    std::string joins;
    std::vector<const std::vector<Column> *> seen;
    int g = 0;
    for (const Definition &d : on_target) {
        if (family_of(d.kind) == Family::Additive) continue;
        if (std::any_of(seen.begin(), seen.end(), [&d](auto *cols) { return same_columns(*cols, d.target_columns); }))
            continue;
        seen.push_back(&d.target_columns);
        std::string alias = "g" + std::to_string(++g);
        joins += " LEFT JOIN LATERAL (" + group_query(group_of(on_target, d.target_columns), d.target_key,
                                                      key_params(d, init.key_columns)) +
                 ") " + alias + " ON true";
        for (size_t i = 0; i < d.target_columns.size(); i++) {
            outputs.push_back(alias + ".v" + std::to_string(i + 1));
            init.counter_columns.push_back(d.target_columns[i].name);
        }
    }
    init.query = "SELECT " + joined(outputs, ", ") + " FROM (SELECT 1) _one" + joins;
    return init;
}

}  // namespace denorm::core
