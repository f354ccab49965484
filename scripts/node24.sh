# Sourced by the scripts that run the service or its tests: puts Node 24 first on
# PATH. Where the machine's Node is older, the official binary is fetched once from
# the npm registry (the node-<platform>-<arch> package) into a cache outside the
# repository, so a machine with only Node 20 still runs everything on Node 24.
ensure_node24() {
  local have
  have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$have" -ge 24 ] && return 0
  local platform cache bin
  platform=$(node -p 'process.platform + "-" + process.arch' 2>/dev/null || echo linux-x64)
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/clinical-attachments/node24-$platform"
  bin="$cache/node_modules/node-$platform/bin"
  if [ ! -x "$bin/node" ]; then
    echo "==> fetching Node 24 (npm package node-$platform@24) into $cache" >&2
    npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error "node-$platform@24" >&2 || return 1
  fi
  export PATH="$bin:$PATH"
}
