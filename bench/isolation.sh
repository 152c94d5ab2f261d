#!/usr/bin/env bash
# The tenant-isolation benchmark (issue 13, item 1): another environment's account read and
# /healthz, p50/p99, on a quiet server and while four tasks read one environment's large
# exchange log in a loop (GET /v1/logs?limit=500), on loopback.
#
#   bench/isolation.sh [ENTRIES] [SECONDS]     # defaults 270000 and 5 (or ISOLATION_ENTRIES, ISOLATION_SECONDS)
#
# Other knobs: ISOLATION_READERS (default 4), RUST_LOG (the server's log level, default warn).
# Builds with the bench profile (optimized). The log is written to a temporary database
# (~2.3 KB per entry: 270,000 entries take about 620 MB of disk while it runs).
# Exit status: 1 if a request failed, else 0; timings are reported, not judged.
set -euo pipefail
cd "$(dirname "$0")/.."
export ISOLATION_ENTRIES="${1:-${ISOLATION_ENTRIES:-270000}}"
export ISOLATION_SECONDS="${2:-${ISOLATION_SECONDS:-5}}"
exec cargo bench --bench tenant_isolation
