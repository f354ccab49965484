#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs and starts the real
# servers and clients the tests need (Node 24, PostgreSQL, Ceph RGW as the S3 server,
# ClamAV, curl, python3-requests, Chromium, promtool), checks architecture and types, builds,
# runs unit, integration and e2e tests, and prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/node24.sh
source scripts/test-services.sh

results_dir=.test-results
rm -rf "$results_dir" && mkdir -p "$results_dir"
gates_passed=0
gates_failed=0
gate() { # gate <name> <command...>: a check that counts as one test
  local name=$1; shift
  echo "==> $name"
  if "$@"; then gates_passed=$((gates_passed + 1)); else gates_failed=$((gates_failed + 1)); echo "FAILED: $name"; fi
}

trap stop_services EXIT
ensure_node24 || { echo "0 passed, 1 failed"; exit 1; }
echo "==> Node $(node -v)"
ensure_clamav || { echo "0 passed, 1 failed"; exit 1; }
ensure_http_clients || { echo "0 passed, 1 failed"; exit 1; }
ensure_promtool || { echo "promtool could not be installed"; echo "0 passed, 1 failed"; exit 1; }
start_postgres || { echo "0 passed, 1 failed"; exit 1; }
start_rgw || { echo "0 passed, 1 failed"; exit 1; }

gate "architecture rules (dependency-cruiser)" npx --no-install depcruise apps libs --config .dependency-cruiser.cjs
gate "type check" npx --no-install tsc --noEmit -p tsconfig.json
gate "build" npx --no-install nest build

echo "==> jest (unit, integration, e2e)"
NODE_OPTIONS=--experimental-vm-modules npx --no-install jest --ci --maxWorkers=2 \
  --json --outputFile="$results_dir/jest.json" "$@"
jest_status=$?

node scripts/summarize-tests.mjs "$results_dir/jest.json" "$gates_passed" "$gates_failed"
summary_status=$?
[ "$jest_status" -eq 0 ] && [ "$gates_failed" -eq 0 ] && [ "$summary_status" -eq 0 ]
