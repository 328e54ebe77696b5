#!/usr/bin/env bash
# setup.sh — install the Debian 12 packages denorm needs to build and test. Idempotent:
# checks each package with dpkg first, runs `apt-get update` + install only when one is
# missing. Runs as root, or through sudo when not root.
#
# pg_trgm (a hard requirement of the extension) ships in the postgresql-15 package on
# Debian 12 (/usr/share/postgresql/15/extension/pg_trgm.control), so postgresql-contrib
# (a meta package) is not needed.
set -euo pipefail

PACKAGES=(
    postgresql-15 postgresql-server-dev-15 postgresql-15-cron
    libhiredis-dev redis-server
    libgtest-dev googletest cmake g++ make
    clang-14 llvm-14          # PGXS compiles .bc bitcode with clang-14 (Debian's with_llvm=yes)
    libipc-run-perl           # PostgreSQL::Test::Cluster (TAP) needs IPC::Run
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    echo "setup: installing missing packages: ${missing[*]}"
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "setup: all packages present"
fi

# The Debian package creates and starts a cluster "15 main" on port 5432. Nothing in denorm
# uses it; stop it to save memory (best effort, never fatal).
if command -v pg_lsclusters >/dev/null 2>&1 &&
   pg_lsclusters -h 2>/dev/null | awk '$1=="15" && $2=="main" && $4=="online"' | grep -q .; then
    if [[ $(id -u) -eq 0 ]]; then
        pg_ctlcluster 15 main stop 2>/dev/null || true
    fi
fi
exit 0
