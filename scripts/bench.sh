#!/usr/bin/env bash
# `npm run bench`: the benchmarks on what a deployment runs. Starts a throwaway PostgreSQL
# and a single-node Ceph RGW (the S3 server of the tests) the way `npm test` does, runs
# bench/run.mjs on Node 24 against them, and stops them. `--embedded` runs the services on
# the embedded PGlite instead, and `--database-url postgres://...` on a Postgres of yours.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/node24.sh
source scripts/test-services.sh

ensure_node24 || exit 1
node scripts/ensure-built.mjs || exit 1
trap stop_services EXIT

args=()
own_database=1
for arg in "$@"; do
  case "$arg" in
    --embedded) own_database=0 ;;
    --database-url|--database-url=*) own_database=0; args+=("$arg") ;;
    *) args+=("$arg") ;;
  esac
done
if [ "$own_database" = 1 ]; then
  # Durable, as a deployment runs it: a commit waits for its WAL to reach the disk.
  POSTGRES_DURABLE=1 start_postgres || exit 1
  args+=(--database-url "$TEST_DATABASE_URL")
fi
start_rgw || exit 1
BENCH_S3_ENDPOINT="$TEST_S3_ENDPOINT" BENCH_S3_ACCESS_KEY_ID="$TEST_S3_ACCESS_KEY_ID" BENCH_S3_SECRET_ACCESS_KEY="$TEST_S3_SECRET_ACCESS_KEY" \
  node --expose-gc bench/run.mjs "${args[@]}"
