// key_encoding.hpp — a key datum's bytes for core::KeyEncoder: equal values of one
// type give equal bytes (varlenas detoasted), so a key identifies its target row;
// integer keys sort in numeric order and text keys byte by byte.
// Layer: pg glue. Regime: PostgreSQL.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

#include <cstring>

#include "core/delta_map.hpp"

namespace denorm::pg {

inline void encode_key_datum(core::KeyEncoder *enc, Datum d, int16 typlen, bool typbyval)
{
    if (typbyval && (typlen == 2 || typlen == 4 || typlen == 8)) {
        // Integers (and dates, timestamps) in numeric order; any other by-value type of
        // these widths gets some consistent order, which is all equality and writers need.
        long long v = typlen == 2 ? DatumGetInt16(d) : typlen == 4 ? DatumGetInt32(d) : DatumGetInt64(d);
        enc->add_ordered_int(v, typlen);
    } else if (typbyval) {
        enc->add_part(&d, sizeof(Datum));
    } else if (typlen == -1) {
        // Text in the order of COLLATE "C", the order the statements that lock many
        // target rows use for a collatable key column (core/statement_parts lock_order).
        struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
        enc->add_ordered_bytes(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
    } else if (typlen == -2) {
        enc->add_part(DatumGetPointer(d), strlen(DatumGetCString(d)));
    } else {
        enc->add_part(DatumGetPointer(d), typlen);
    }
}

}  // namespace denorm::pg
