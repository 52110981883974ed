# Shared set-up for the project's scripts: system packages and a build cache outside the clone.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ironroot/target}"
# Agave's precompiles would otherwise build OpenSSL from source (also set in .cargo/config.toml).
export OPENSSL_NO_VENDOR=1

# Debian packages: pkg-config and libssl-dev (openssl-sys), make (jemalloc, the keeper's allocator),
# curl (the IPFS node script).
ensure_system_packages() {
  local missing=()
  for pkg in pkg-config libssl-dev make curl; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "Installing ${missing[*]} ..."
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# Debian's wrk: the load generator that is not ours in the HTTP benchmark.
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  echo "Installing wrk ..."
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk
}

ensure_rust() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
}

# Node.js and npm run the js-ipfs test node.
ensure_node() {
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  echo "Installing nodejs and npm ..."
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm
}
