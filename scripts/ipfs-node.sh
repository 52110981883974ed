#!/usr/bin/env bash
# js-ipfs test node serving the Kubo RPC API (/api/v0) on 127.0.0.1, for the keeper's IPFS tests.
#   scripts/ipfs-node.sh start    install (npm ci, cached), init the repo once, start, print the API URL
#   scripts/ipfs-node.sh stop     SIGTERM the daemon and wait for it
#   scripts/ipfs-node.sh status   print the API URL and exit 0 if the node answers, else exit 1
# Tests read the URL from IRONROOT_IPFS_API:  export IRONROOT_IPFS_API="$(scripts/ipfs-node.sh start)"
# Why js-ipfs and not Kubo: see docs/stack.md (Kubo cannot be installed from the registries here).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/tools/ipfs-node"
DATA="${IRONROOT_IPFS_DATA:-$HOME/.cache/ironroot/ipfs}"
# node_modules live outside the clone so a fresh CI clone reuses them; keyed by the lock file's hash.
NODE_DIR="$DATA/node"
REPO="$DATA/repo"
PIDFILE="$DATA/daemon.pid"
LOG="$DATA/daemon.log"
API_PORT="${IRONROOT_IPFS_PORT:-5101}"
API_URL="http://127.0.0.1:$API_PORT"
JSIPFS="$NODE_DIR/node_modules/.bin/jsipfs"

log() { echo "ipfs-node: $*" >&2; }

answers() {
  curl -sf -m 2 -X POST "$API_URL/api/v0/version" >/dev/null 2>&1
}

# The daemon's pid, if it is alive and is js-ipfs (it titles itself "ipfs"); a zombie left by
# `kill -9` or a reused pid is not.
running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid state
  pid="$(cat "$PIDFILE")"
  state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$state" ] && [ "$state" != Z ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q ipfs || return 1
  echo "$pid"
}

install() {
  if ! command -v node >/dev/null; then
    log "node not found: install Node.js 20 (apt-get install nodejs npm)"
    exit 1
  fi
  mkdir -p "$NODE_DIR"
  local want have=""
  want="$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)"
  [ -f "$NODE_DIR/.lock-sha256" ] && have="$(cat "$NODE_DIR/.lock-sha256")"
  if [ "$want" = "$have" ] && [ -x "$JSIPFS" ]; then return 0; fi
  log "installing js-ipfs (npm ci, about a minute) into $NODE_DIR"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$NODE_DIR/"
  rm -f "$NODE_DIR/.lock-sha256"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$NODE_DIR/.lock-sha256"
}

init_repo() {
  [ -f "$REPO/config" ] && return 0
  log "initialising repo $REPO"
  rm -rf "$REPO"
  # Loopback only, no swarm, no bootstrap peers: a closed test node.
  local cfg="$DATA/init-config.json"
  cat >"$cfg" <<JSON
{"Addresses": {"API": "/ip4/127.0.0.1/tcp/$API_PORT", "Gateway": "/ip4/127.0.0.1/tcp/$((API_PORT + 1))",
  "RPC": "/ip4/127.0.0.1/tcp/$((API_PORT + 2))", "Swarm": [], "Delegates": []},
 "Bootstrap": [], "Discovery": {"MDNS": {"Enabled": false}, "webRTCStar": {"Enabled": false}}}
JSON
  IPFS_PATH="$REPO" "$JSIPFS" init --profile test --emptyRepo "$cfg" >&2
}

start() {
  if running_pid >/dev/null && answers; then echo "$API_URL"; return 0; fi
  install
  init_repo
  # A daemon killed with SIGKILL leaves its repo lock behind; nothing of ours is running now.
  if ! running_pid >/dev/null; then rm -rf "$REPO/repo.lock" "$REPO/api"; fi
  if answers; then log "port $API_PORT is taken by another process"; exit 1; fi
  log "starting daemon (log: $LOG)"
  local started=$SECONDS
  IPFS_PATH="$REPO" nohup "$JSIPFS" daemon --offline --enable-preload=false >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if answers; then log "up in $((SECONDS - started)) s"; echo "$API_URL"; return 0; fi
    if ! running_pid >/dev/null; then log "daemon exited:"; tail -n 20 "$LOG" >&2; exit 1; fi
    sleep 0.5
  done
  log "daemon did not answer within 60 s:"; tail -n 20 "$LOG" >&2
  stop
  exit 1
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$PIDFILE"; log "not running"; return 0; fi
  kill -TERM "$pid"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; log "stopped"; return 0; }
    sleep 0.25
  done
  log "daemon $pid ignored SIGTERM for 10 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE" "$REPO/repo.lock" "$REPO/api"
}

status() {
  if running_pid >/dev/null && answers; then echo "$API_URL"; return 0; fi
  log "not running"
  return 1
}

mkdir -p "$DATA"
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
