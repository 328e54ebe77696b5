#!/usr/bin/env bash
# platform-data.sh — `make platform-data SCALE=1`: the discovery platform's tables and data
# (examples/discovery_platform) in the database the usual PG* variables name (PGHOST,
# PGPORT, PGDATABASE, PGUSER...). Creates the tables (schema.sql) when `users` does not
# exist yet, then runs generate.sh (progress on stderr). The declarations come after:
# psql -f examples/discovery_platform/denorm.sql (see that directory's README).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EX=$ROOT/examples/discovery_platform
PSQL=${PSQL:-psql}
export SCALE=${SCALE:-1} PSQL

if [[ $("$PSQL" -X -At -c "SELECT to_regclass('users') IS NULL") == t ]]; then
    echo "platform-data: creating the tables (schema.sql)" >&2
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -f "$EX/schema.sql"
fi
bash "$EX/generate.sh"
echo "platform-data: next, declare the denormalizations: $PSQL -f $EX/denorm.sql" >&2
