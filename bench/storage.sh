#!/usr/bin/env bash
# The load benchmark on each storage backend: SQLite versus Postgres at 1 and 8 workers, and two
# server nodes on one Postgres database versus one node, in one run (benches/storage_backends.rs).
#
#   bench/storage.sh [SECONDS]      # each run's measured time, default 10 (or STORAGE_SECONDS)
#
# Other knobs: STORAGE_WARMUP (seconds, default 2), STORAGE_WORKERS (the larger runs, default 8),
# STORAGE_PAUSE (seconds between runs, default 15), STORAGE_PG_SET="name=value;..." (Postgres
# settings for its databases, to try one), RUST_LOG (the servers' log level, default warn).
# Postgres is a throwaway local cluster (switchyard_testpg: Debian's postgresql package); without
# it the bench says SKIPPED and exits 0. Builds with the bench profile (optimized), so the first
# run compiles for a while. Exit status: 1 if any request failed or a server could not be set up,
# else 0; timings are reported, not judged.
set -euo pipefail
cd "$(dirname "$0")/.."
export STORAGE_SECONDS="${1:-${STORAGE_SECONDS:-10}}"
exec cargo bench --bench storage_backends
