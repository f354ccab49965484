# Ceph for test/support/rgw.mjs, the tests' real S3 server. Source this file, then call
# ensure_ceph. --no-install-recommends keeps it to the three daemons (~60 MB download).
# Shares apt_updated with scripts/test-services.sh so apt-get update runs once per test run.
ensure_ceph() {
  command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && return 0
  echo "==> installing Ceph: ceph-mon ceph-osd radosgw (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${apt_updated:-}" ]; then apt-get update -qq || return 1; apt_updated=1; fi
  apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw >/dev/null
}
