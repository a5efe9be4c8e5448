#!/usr/bin/env bash
# A local three-node saga-coordinator cluster as plain processes:
#   - etcd                  (the `etcd` binary, data in the run dir)
#   - a MongoDB-wire server (`mongod` if on PATH, else scripts/mongo-java-server's jar)
#   - three coordinators    (`node coordinator/dist/cli/main.js start`, node-1..node-3)
# Everything runs in the foreground of this script; Ctrl+C (or SIGTERM/SIGHUP)
# drains the coordinators, then stops the databases. Logs stay in the run dir.
#
# Usage: deploy/local-cluster.sh [extra coordinator flags...]
#   e.g. deploy/local-cluster.sh --participant inventory=127.0.0.1:50071 --log-level debug
#
# Environment (all optional):
#   ETCD_PORT=2379  ETCD_PEER_PORT=2380  MONGO_PORT=27017  BASE_PORT=50051 (nodes use BASE_PORT..+2)
#   HOST=127.0.0.1                            address everything binds to
#   ETCD_PREFIX=/saga-coordinator/local       the cluster's etcd key prefix
#   RUN_DIR=<new temp dir>                    logs (and etcd/mongod data, removed on exit)
#   MONGODB_URI=mongodb://...                 use this MongoDB instead of starting one
#   READY_TIMEOUT=60                          seconds each service may take to come up
set -euo pipefail

cd "$(dirname "$0")/.."

HOST=${HOST:-127.0.0.1}
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
MONGO_PORT=${MONGO_PORT:-27017}
BASE_PORT=${BASE_PORT:-50051}
ETCD_PREFIX=${ETCD_PREFIX:-/saga-coordinator/local}
READY_TIMEOUT=${READY_TIMEOUT:-60}
NODES=3
jar=scripts/mongo-java-server/target/mongo-java-server.jar

# Never fails: during teardown the terminal may be gone (SIGHUP) or a pipe closed.
say() { echo "[local-cluster] $*" 2>/dev/null || true; }
die() {
  echo "[local-cluster] error: $*" >&2
  exit 1
}

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
fi

# --- state and teardown ------------------------------------------------------
coordinator_pids=()
service_pids=() # etcd, mongo
declare -A names=()

alive() { kill -0 "$1" 2>/dev/null; }

# spawn NAME LOG COMMAND...: starts COMMAND in the background in its own process
# group (job control on just for the fork), so a Ctrl+C in the terminal reaches
# only this script, which then stops everything in order: coordinators drain
# while etcd and MongoDB are still up. Sets $spawned to its pid.
spawn() {
  local name=$1 log=$2
  shift 2
  set -m
  "$@" </dev/null >"$log" 2>&1 &
  spawned=$!
  set +m
  names[$spawned]=$name
}

# Sends SIGTERM to each pid's process group, waits up to `seconds`, then SIGKILLs what is left.
stop_group() {
  local seconds=$1
  shift
  local pid
  for pid in "$@"; do
    if alive "$pid"; then kill -TERM -- "-$pid" 2>/dev/null || true; fi
  done
  local deadline=$((SECONDS + seconds))
  for pid in "$@"; do
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if alive "$pid"; then
      say "${names[$pid]:-$pid} did not stop within ${seconds}s; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}

cleaned_up=0
cleanup() {
  [ "$cleaned_up" = 1 ] && return
  cleaned_up=1
  trap '' INT TERM HUP PIPE # a second Ctrl+C or a closed terminal must not interrupt the teardown
  set +e # carry on whatever fails
  if [ "${#coordinator_pids[@]}" -gt 0 ]; then
    say "stopping coordinators (they drain and hand their partitions over)..."
    stop_group 30 "${coordinator_pids[@]}"
  fi
  if [ "${#service_pids[@]}" -gt 0 ]; then
    say "stopping etcd and MongoDB..."
    stop_group 15 "${service_pids[@]}"
  fi
  if [ -n "${RUN_DIR:-}" ]; then
    rm -rf "$RUN_DIR/etcd-data" "$RUN_DIR/mongo-data"
    say "stopped; logs are in $RUN_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# wait_for NAME PID COMMAND...: polls COMMAND until it succeeds; fails if PID exits or time runs out.
wait_for() {
  local name=$1 pid=$2
  shift 2
  local deadline=$((SECONDS + READY_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$pid"; then
      echo "--- last lines of $RUN_DIR/$name.log ---" >&2
      tail -n 30 "$RUN_DIR/$name.log" >&2 || true
      die "$name exited during startup"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "$name not ready after ${READY_TIMEOUT}s (log: $RUN_DIR/$name.log)"
    sleep 0.2
  done
}

# --- preflight ---------------------------------------------------------------
command -v node >/dev/null || die "node is not on PATH (Node 20+ is needed)"
command -v etcd >/dev/null || die "etcd is not on PATH (Debian: apt-get install etcd-server, or run scripts/install-test-deps.sh)"

ports=("$ETCD_PORT" "$ETCD_PEER_PORT")
[ -n "${MONGODB_URI:-}" ] || ports+=("$MONGO_PORT")
for ((i = 0; i < NODES; i++)); do ports+=($((BASE_PORT + i))); done
for port in "${ports[@]}"; do
  if port_in_use "$port"; then
    die "port $HOST:$port is already in use (another cluster running? set ETCD_PORT/ETCD_PEER_PORT/MONGO_PORT/BASE_PORT)"
  fi
done

RUN_DIR=${RUN_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/saga-local-cluster.XXXXXX")}
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)

if [ ! -d node_modules ]; then
  # `npm install` with the committed lock, not `npm ci`: see README, "Why not npm ci".
  say "installing npm dependencies (npm install)..."
  npm install --no-audit --no-fund --loglevel=error
fi
if [ ! -f coordinator/dist/cli/main.js ]; then
  say "coordinator/dist is missing: building the repository (npm run build)..."
  npm run build
fi

# --- etcd --------------------------------------------------------------------
etcd_url="http://$HOST:$ETCD_PORT"
peer_url="http://$HOST:$ETCD_PEER_PORT"
# etcd reads every ETCD_* environment variable as a flag; ETCD_PORT is ours, not its.
etcd_env=()
while IFS= read -r var; do etcd_env+=(-u "$var"); done < <(compgen -e | grep '^ETCD_' || true)
spawn etcd "$RUN_DIR/etcd.log" env "${etcd_env[@]}" etcd --name local-cluster \
  --data-dir "$RUN_DIR/etcd-data" \
  --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "$peer_url" --initial-advertise-peer-urls "$peer_url" \
  --initial-cluster "local-cluster=$peer_url" --initial-cluster-state new \
  --logger zap --log-level warn
etcd_pid=$spawned
service_pids+=("$etcd_pid")
say "etcd starting on $etcd_url (pid $etcd_pid)"
etcd_healthy() { curl -fsS "$etcd_url/health" | grep -q '"health":"true"'; }
if command -v curl >/dev/null; then
  wait_for etcd "$etcd_pid" etcd_healthy
else
  wait_for etcd "$etcd_pid" port_in_use "$ETCD_PORT"
fi

# --- MongoDB-wire server -----------------------------------------------------
if [ -n "${MONGODB_URI:-}" ]; then
  mongo_uri=$MONGODB_URI
  mongo_what="external MongoDB (MONGODB_URI)"
else
  mongo_uri="mongodb://$HOST:$MONGO_PORT"
  if command -v mongod >/dev/null; then
    mkdir -p "$RUN_DIR/mongo-data"
    spawn mongo "$RUN_DIR/mongo.log" \
      mongod --dbpath "$RUN_DIR/mongo-data" --bind_ip "$HOST" --port "$MONGO_PORT" --nounixsocket --quiet
    mongo_what="mongod $(command -v mongod)"
  else
    command -v java >/dev/null ||
      die "neither mongod nor java is on PATH (install MongoDB, or a JDK 17 to run $jar)"
    if [ ! -f "$jar" ]; then
      say "$jar is missing: building it with scripts/install-test-deps.sh..."
      bash scripts/install-test-deps.sh
      [ -f "$jar" ] || die "$jar was not built (see the output above)"
    fi
    # In-memory mongo-java-server: every saga is gone when the cluster stops.
    spawn mongo "$RUN_DIR/mongo.log" java -jar "$jar" "$HOST" "$MONGO_PORT"
    mongo_what="mongo-java-server (in memory) $jar"
  fi
  mongo_pid=$spawned
  service_pids+=("$mongo_pid")
  say "MongoDB-wire server starting on $mongo_uri: $mongo_what (pid $mongo_pid)"
  wait_for mongo "$mongo_pid" port_in_use "$MONGO_PORT"
fi

# --- coordinators ------------------------------------------------------------
for ((i = 1; i <= NODES; i++)); do
  node_id="node-$i"
  address="$HOST:$((BASE_PORT + i - 1))"
  spawn "$node_id" "$RUN_DIR/$node_id.log" node coordinator/dist/cli/main.js start \
    --listen "$address" --node-id "$node_id" \
    --etcd-endpoints "$etcd_url" --etcd-prefix "$ETCD_PREFIX" \
    --mongodb-uri "$mongo_uri" "$@"
  pid=$spawned
  coordinator_pids+=("$pid")
  say "$node_id starting on $address (pid $pid)"
done
for pid in "${coordinator_pids[@]}"; do
  node_id=${names[$pid]}
  wait_for "$node_id" "$pid" grep -q '"msg":"coordinator ready"' "$RUN_DIR/$node_id.log"
  say "$node_id ready"
done
# "ready" means a node has joined; wait until the leader has spread the partitions over all three.
say "waiting for the partitions to settle on $NODES members..."
node deploy/cluster-status.mjs "$HOST:$BASE_PORT" --wait-members "$NODES" --timeout-ms "$((READY_TIMEOUT * 1000))" ||
  die "the cluster did not settle (logs: $RUN_DIR)"

cat <<EOF

Local saga-coordinator cluster is up.

  coordinators  $HOST:$BASE_PORT  $HOST:$((BASE_PORT + 1))  $HOST:$((BASE_PORT + 2))   (node-1..node-3)
  etcd          $etcd_url   prefix $ETCD_PREFIX
  MongoDB       $mongo_uri   ($mongo_what)
  logs          $RUN_DIR/{node-1,node-2,node-3,etcd,mongo}.log

Cluster status (members, leader, partition owners), from any node:
  node deploy/cluster-status.mjs $HOST:$BASE_PORT
  grpcurl -plaintext -import-path $PWD/proto -proto saga/v1/admin.proto $HOST:$BASE_PORT saga.v1.AdminService/GetClusterStatus
Health (grpc.health.v1):
  grpc_health_probe -addr=$HOST:$BASE_PORT      # or: node deploy/healthcheck.mjs $HOST:$BASE_PORT
Follow a node:
  tail -f $RUN_DIR/node-1.log

Press Ctrl+C to stop everything.
EOF

# --- supervise ---------------------------------------------------------------
# Report every process that exits on its own (e.g. one you killed to watch a
# failover); keep running until Ctrl+C/SIGTERM or until all coordinators are gone.
exited=()
while :; do
  wait -n || true
  running=0
  for pid in "${coordinator_pids[@]}" "${service_pids[@]}"; do
    if alive "$pid"; then
      [[ " ${coordinator_pids[*]} " == *" $pid "* ]] && running=$((running + 1))
    elif [[ " ${exited[*]} " != *" $pid "* ]]; then
      exited+=("$pid")
      say "${names[$pid]} (pid $pid) exited; its log: $RUN_DIR/${names[$pid]}.log"
    fi
  done
  if [ "$running" -eq 0 ]; then
    say "no coordinator is running any more; shutting down"
    exit 1
  fi
done
