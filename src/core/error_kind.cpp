// error_kind.cpp — ErrorKind -> SQLSTATE table. Layer: core.
#include "core/error_kind.hpp"

namespace denorm::core {

const char *sqlstate_of(ErrorKind kind)
{
    switch (kind) {
    case ErrorKind::UndefinedTable: return "42P01";
    case ErrorKind::UndefinedColumn: return "42703";
    case ErrorKind::UndefinedObject: return "42704";
    case ErrorKind::DuplicateObject: return "42710";
    case ErrorKind::DatatypeMismatch: return "42804";
    case ErrorKind::InvalidParameter: return "22023";
    case ErrorKind::WrongObjectType: return "42809";
    case ErrorKind::InvalidColumnRef: return "42P10";
    case ErrorKind::InsufficientPrivilege: return "42501";
    case ErrorKind::FeatureNotSupported: return "0A000";
    }
    return "XX000";
}

}  // namespace denorm::core
