#!/usr/bin/env bash
# Every test, on both databases:
#   1. `cargo test --workspace`: everything, the server's end-to-end tests on SQLite; the store's
#      tests run on SQLite and on a throwaway Postgres each (tests named `…::sqlite::…` and
#      `…::postgres::…`), and the multi-node tests (server_nodes) on Postgres;
#   2. the server's end-to-end tests again, on Postgres (SWITCHYARD_TEST_DB=postgres).
# Then a count of passed tests per backend. Postgres is Debian's `postgresql` package, started by
# the tests themselves (switchyard-testpg); without it the Postgres tests say SKIPPED, unless
# CI=true, where a missing Postgres fails the run. Extra arguments go to both cargo runs.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p target
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# The server's end-to-end test targets (run on each backend).
SERVER_TESTS=(server_api server_connect server_hardening server_isolation server_keys server_processes
  server_refresh server_secrets fuzz_server fuzz_upstream fixtures_through_server)

have_postgres() {
  [ -n "${SWITCHYARD_PG_BINDIR:-}" ] && [ -x "$SWITCHYARD_PG_BINDIR/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && return 0
  command -v initdb >/dev/null 2>&1 && return 0
  command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ] && return 0
  return 1
}

# Passed tests per target in a cargo test log: "TARGET COUNT" lines.
passed_by_target() {
  awk '/^ *Running /{ target=$2; sub(/^.*\//, "", target); sub(/\.rs$/, "", target); sub(/-[0-9a-f]+$/, "", target) }
       /^test .* \.\.\. ok$/ { n[target]++ }
       END { for (t in n) print t, n[t] }' "$1"
}

sum_for() { # sum_for LOG TARGET… : passed tests of those targets
  local log="$1"; shift
  local targets=" $* "
  passed_by_target "$log" | awk -v targets="$targets" 'index(targets, " " $1 " ") { s += $2 } END { print s + 0 }'
}

cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee target/test-workspace.log
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"

if have_postgres || [ "${CI:-}" = "true" ]; then
  targets=()
  for t in "${SERVER_TESTS[@]}"; do targets+=(--test "$t"); done
  SWITCHYARD_TEST_DB=postgres cargo test --locked --no-fail-fast "${targets[@]}" "$@" 2>&1 | tee target/test-postgres.log
  status=${PIPESTATUS[0]}
  [ "$status" -eq 0 ] || exit "$status"
else
  echo "SKIPPED: the server's end-to-end tests on Postgres (no initdb found: install Debian's postgresql package)" >&2
  : > target/test-postgres.log
fi

# The store's tests that run on both backends are named sqlite::NAME and postgres::NAME; its
# Postgres-only targets (outages, pool, TLS) are counted apart.
store_sqlite=$(grep -cE '^test sqlite::[^:]+ \.\.\. ok$' target/test-workspace.log || true)
store_postgres=$(grep -cE '^test postgres::[^:]+ \.\.\. ok$' target/test-workspace.log || true)
store_postgres_only=$(sum_for target/test-workspace.log postgres_only postgres_tls)
server_sqlite=$(sum_for target/test-workspace.log "${SERVER_TESTS[@]}")
server_postgres=$(sum_for target/test-postgres.log "${SERVER_TESTS[@]}")
nodes=$(sum_for target/test-workspace.log server_nodes)
echo
echo "passed per backend:"
echo "  store tests (switchyard-store):   SQLite $store_sqlite, Postgres $store_postgres (and $store_postgres_only on Postgres only: outages, pool, TLS)"
echo "  server end-to-end tests:          SQLite $server_sqlite, Postgres $server_postgres"
echo "  several nodes on one Postgres:    $nodes (server_nodes)"
