// error_kind.hpp — the kinds of bad input the core can report, and their SQLSTATEs
// (the ones README "Counters" documents).
// Layer: core (pure C++17, no PostgreSQL headers). The glue maps a kind to ereport.
#pragma once

namespace denorm::core {

enum class ErrorKind {
    UndefinedTable,      // 42P01
    UndefinedColumn,     // 42703
    UndefinedObject,     // 42704
    DuplicateObject,     // 42710
    DatatypeMismatch,    // 42804
    InvalidParameter,    // 22023
    WrongObjectType,     // 42809
    InvalidColumnRef,    // 42P10 (no unique index on the target key)
    InsufficientPrivilege, // 42501
    FeatureNotSupported, // 0A000
};

// The five-character SQLSTATE of a kind, as the README documents it (callers match on it).
const char *sqlstate_of(ErrorKind kind);

}  // namespace denorm::core
