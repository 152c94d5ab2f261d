#!/usr/bin/env bash
# The server load benchmark (issue 6): the unified API server under load against a loopback
# mock returning 100-record pages, versus the same mock called directly.
#
#   bench/load.sh [CONCURRENCY] [SECONDS]      # defaults 16 and 10 (or LOAD_CONCURRENCY, LOAD_SECONDS)
#
# Other knobs: LOAD_WARMUP (seconds, default 2), LOAD_ONLY=direct (the mock alone), RUST_LOG (the
# server's log level, default warn). Builds with the bench profile (optimized), so the first run
# compiles for a while. Exit status: 1 if any request failed, else 0; timings are reported, not judged.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOAD_CONCURRENCY="${1:-${LOAD_CONCURRENCY:-16}}"
export LOAD_SECONDS="${2:-${LOAD_SECONDS:-10}}"
exec cargo bench --bench server_load
