#!/usr/bin/env bash
# The whole test suite, as CI runs it: restore, build (warnings are errors), format check, the pinned
# SAP AI SDK for the interop tests (npm ci), a private PostgreSQL when none is given, every test on
# SQLite and PostgreSQL, then cleanup.
# Last line: "N passed, N failed".
#
#   ./test.sh                      everything
#   ./test.sh --filter Name~Auth   extra arguments go to 'dotnet test'
#   RUNLEDGER_TEST_PG='Host=…;Username=…;Password=…' ./test.sh   use an existing PostgreSQL
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

pg_dir=""
cleanup() {
  if [ -n "$pg_dir" ] && [ -d "$pg_dir" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
}
trap cleanup EXIT

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

find_pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$dir" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "== PostgreSQL is not installed; installing it from Debian's packages" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
  echo "$dir"
}

start_private_pg() {
  pg_bin=$(find_pg_bin)
  [ -x "$pg_bin/initdb" ] || return 1
  pg_dir=$(mktemp -d /tmp/runledger-pg.XXXXXX)
  chmod 755 "$pg_dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$pg_dir"
  fi
  as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres --no-sync >"$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; return 1; }
  local port
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 30000))
    if as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 30 \
         -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
         start >/dev/null 2>&1; then
      export RUNLEDGER_TEST_PG="Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres;Maximum Pool Size=30"
      echo "== Started a private PostgreSQL on 127.0.0.1:$port ($pg_dir)"
      return 0
    fi
  done
  cat "$pg_dir/server.log" >&2 || true
  return 1
}

echo "== Restore and build"
dotnet restore Runledger.slnx --nologo -v quiet
dotnet build Runledger.slnx --no-restore --nologo -v quiet -clp:ErrorsOnly

echo "== Format check (dotnet format --verify-no-changes)"
dotnet format Runledger.slnx --verify-no-changes --no-restore -v quiet

# Test filters for what cannot run here (joined with '&'); with CI=true nothing may be left out.
filters=()

# The interop tests drive the server with the official SAP AI SDK: a Node.js client whose exact
# versions are pinned in tests/interop/sap-ai-sdk/package-lock.json.
interop_dir=tests/interop/sap-ai-sdk
skip_interop() {
  if [ "${CI:-}" = "true" ]; then
    echo "FAILED: $1, and with CI=true the SAP AI SDK interop tests must run. Install Node.js 20 or later with npm." >&2
    exit 1
  fi
  echo "WARNING: $1; skipping the interop tests (SapSdkInteropTests, SapSdkMetricsInteropTests, DatadogClientInteropTests)." >&2
  filters+=("FullyQualifiedName!~SapSdk" "FullyQualifiedName!~DatadogClientInterop")
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  skip_interop "node or npm is not on PATH"
else
  # The official @datadog/datadog-api-client (DatadogClientInteropTests) is pinned the same way.
  for dir in "$interop_dir" tests/interop/datadog; do
    echo "== Node.js interop client (npm ci in $dir, node $(node --version))"
    npm_log=$(mktemp)
    if npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >"$npm_log" 2>&1; then
      rm -f "$npm_log"
    else
      cat "$npm_log" >&2
      rm -f "$npm_log"
      skip_interop "'npm ci --prefix $dir' failed (output above)"
    fi
  done
fi

# The web console's end-to-end tests (ConsoleBrowserTests) drive Debian's chromium through
# Playwright for .NET; Playwright's own browser download is never used (it cannot work here).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== Chromium is not installed; installing Debian's chromium package for the console tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) >&2 || true
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "FAILED: /usr/bin/chromium is missing, and with CI=true the console's browser tests must run. Install it: apt-get install -y chromium" >&2
    exit 1
  fi
  echo "WARNING: /usr/bin/chromium is missing; skipping the console's browser tests (ConsoleBrowserTests). Install it: apt-get install -y chromium" >&2
  filters+=("FullyQualifiedName!~ConsoleBrowserTests")
fi

if [ -z "${RUNLEDGER_TEST_PG:-}" ]; then
  if ! start_private_pg; then
    if [ "${CI:-}" = "true" ]; then
      echo "FAILED: PostgreSQL could not be started, and with CI=true the PostgreSQL tests must run." >&2
      exit 1
    fi
    echo "WARNING: PostgreSQL could not be started; running the SQLite tests only. Set RUNLEDGER_TEST_PG to use a running server." >&2
    # Class-per-provider tests end in OnPostgres; theory cases show "provider: Postgres" in their name.
    filters+=("FullyQualifiedName!~OnPostgres" "DisplayName!~Postgres")
  fi
fi

# A --filter given on the command line joins ours ('dotnet test' takes one).
passthrough=()
while [ "$#" -gt 0 ]; do
  if [ "$1" = "--filter" ] && [ "$#" -ge 2 ]; then
    filters+=("($2)")
    shift 2
  else
    passthrough+=("$1")
    shift
  fi
done

filter_args=()
if [ "${#filters[@]}" -gt 0 ]; then
  filter_args=(--filter "$(IFS='&'; echo "${filters[*]}")")
fi

# The benchmark must not rot: run every scenario in its tiny smoke configuration against the
# Debug build just made (no figures are judged here; bench/README.md has the real runs).
echo "== Benchmark smoke run (bench/Runledger.Bench all --smoke)"
bench_log=$(mktemp)
if ! dotnet bench/Runledger.Bench/bin/Debug/net10.0/Runledger.Bench.dll all --smoke \
     --server-dll src/Runledger.Server/bin/Debug/net10.0/Runledger.Server.dll >"$bench_log" 2>&1; then
  cat "$bench_log" >&2
  rm -f "$bench_log"
  echo "FAILED: the benchmark smoke run failed (output above)." >&2
  echo "0 passed, 1 failed"
  exit 1
fi
grep -v '^[[:space:]]*$' "$bench_log" | tail -n 1
rm -f "$bench_log"

echo "== Tests"
log=$(mktemp)
set +e
dotnet test Runledger.slnx --no-build --nologo "${filter_args[@]}" "${passthrough[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
rm -f "$log"
cleanup
pg_dir=""
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
echo "$passed passed, $failed failed"
exit "$status"
