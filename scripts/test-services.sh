# Real servers for the tests, started in a throwaway directory and stopped on exit.
# Sourced by scripts/test.sh; exports TEST_DATABASE_URL and TEST_S3_* (a Ceph RGW).
# clamd is started per test file by the test support code.
source "$(dirname "${BASH_SOURCE[0]}")/ensure-ceph.sh"

services_dir=""

as_postgres() {
  # initdb refuses to run as root; elsewhere the current user owns the cluster.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

ensure_postgres() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "==> installing PostgreSQL (apt-get)"
    apt_install postgresql || return 1
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres || return 1
  fi
}

apt_updated=""
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then apt-get update -qq || return 1; apt_updated=1; fi
  apt-get install -y -qq "$@" >/dev/null
}

# clamd itself is started by the tests that need it (test/support/clamd.ts), each on its
# own port with the repository's test signatures, so a test can stop it on purpose.
ensure_clamav() {
  if ! command -v clamd >/dev/null || [ ! -d /usr/share/clamav-testfiles ]; then
    echo "==> installing ClamAV (apt-get)"
    apt_install clamav-daemon clamav-testfiles || { echo "ClamAV could not be installed"; return 1; }
  fi
}

# The real HTTP clients the tests drive: curl, Python with Debian's python3-requests (the
# system Python, so a pyenv or venv on the PATH does not matter), zsh, which the
# README's walk-through is pasted into besides bash, and Debian's Chromium, which the
# cross-origin tests drive headless over the DevTools protocol (puppeteer-core downloads no browser).
ensure_http_clients() {
  local missing=()
  command -v curl >/dev/null || missing+=(curl)
  command -v zsh >/dev/null || missing+=(zsh)
  # haproxy stands in for the Kubernetes Service and Ingress in the rolling-restart test.
  command -v haproxy >/dev/null || missing+=(haproxy)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  /usr/bin/python3 -c 'import requests' 2>/dev/null || missing+=(python3-requests)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]} (apt-get)"
    apt_install "${missing[@]}" || { echo "${missing[*]} could not be installed"; return 1; }
  fi
  export TEST_PYTHON=/usr/bin/python3
}

# Prometheus' promtool checks the /metrics exposition as a Prometheus server reads it. Only
# the tool is wanted, not a Prometheus server started by the package's install scripts, so
# without it the package is downloaded and just promtool unpacked, into a cache outside the repo.
ensure_promtool() {
  command -v promtool >/dev/null && return 0
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/clinical-attachments/promtool"
  if [ ! -x "$cache/usr/bin/promtool" ]; then
    echo "==> fetching promtool (apt-get download prometheus)"
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "$apt_updated" ]; then apt-get update -qq || return 1; apt_updated=1; fi
    local work; work=$(mktemp -d) && chmod 777 "$work"
    (cd "$work" && apt-get download -qq prometheus >/dev/null) || { rm -rf "$work"; return 1; }
    mkdir -p "$cache" && dpkg-deb -x "$work"/prometheus_*.deb "$cache" || { rm -rf "$work"; return 1; }
    rm -rf "$work"
  fi
  export PATH="$cache/usr/bin:$PATH"
}

# Tests trade durability for speed (fsync off). POSTGRES_DURABLE=1 keeps PostgreSQL's own
# defaults (fsync, synchronous_commit, full_page_writes on), as a deployment runs it: the benchmarks use that.
start_postgres() {
  ensure_postgres || { echo "PostgreSQL is not installed and could not be installed"; return 1; }
  [ -n "$services_dir" ] || services_dir=$(mktemp -d /tmp/attachments-test.XXXXXX)
  chmod 755 "$services_dir"
  mkdir -p "$services_dir/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$services_dir/pg"
  local port; port=$(free_port)
  echo "==> starting PostgreSQL on 127.0.0.1:$port"
  # A random password, so other local users cannot reach the test server while it runs.
  local password; password=$(node -e 'console.log(require("crypto").randomBytes(18).toString("hex"))')
  (umask 077; printf '%s\n' "$password" >"$services_dir/pg/pwfile")
  [ "$(id -u)" = 0 ] && chown postgres "$services_dir/pg/pwfile"
  as_postgres "$pg_bin/initdb" -D "$services_dir/pg/data" --no-sync --auth=scram-sha-256 --pwfile="$services_dir/pg/pwfile" -U postgres \
    >"$services_dir/pg/initdb.log" 2>&1 \
    || { cat "$services_dir/pg/initdb.log"; return 1; }
  local speed="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  [ "${POSTGRES_DURABLE:-0}" = 1 ] && speed=""
  as_postgres "$pg_bin/pg_ctl" -D "$services_dir/pg/data" -w -l "$services_dir/pg/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $services_dir/pg $speed -c max_connections=200" \
    start >/dev/null || { cat "$services_dir/pg/server.log"; return 1; }
  rm -f "$services_dir/pg/pwfile"
  export TEST_DATABASE_URL="postgres://postgres:$password@127.0.0.1:$port/postgres"
}

# One Ceph RADOS Gateway for the run, a real S3 server that checks signatures and
# implements multipart abort/list; each test file makes its own buckets on it.
start_rgw() {
  ensure_ceph || { echo "Ceph (radosgw) is not installed and could not be installed"; return 1; }
  [ -n "$services_dir" ] || services_dir=$(mktemp -d /tmp/attachments-test.XXXXXX)
  echo "==> starting Ceph RGW (S3)"
  node test/support/rgw.mjs start "$services_dir/rgw.json" || return 1
  eval "$(node -e '
    const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const [k, v] of [["TEST_S3_ENDPOINT", s.endpoint], ["TEST_S3_ACCESS_KEY_ID", s.accessKeyId], ["TEST_S3_SECRET_ACCESS_KEY", s.secretAccessKey]])
      console.log(`export ${k}=${JSON.stringify(v)}`);' "$services_dir/rgw.json")"
}

stop_services() {
  [ -n "$services_dir" ] || return 0
  [ -f "$services_dir/rgw.json" ] && node test/support/rgw.mjs stop "$services_dir/rgw.json" >/dev/null 2>&1
  if [ -d "$services_dir/pg/data" ]; then
    as_postgres "$pg_bin/pg_ctl" -D "$services_dir/pg/data" -m fast stop >/dev/null 2>&1
  fi
  rm -rf "$services_dir"
}
