#!/usr/bin/env bash
# Starts one coordinator in dev mode (in-memory store, no etcd) with example
# participants, runs two demo sagas, and keeps serving on 127.0.0.1:50051.
# Extra arguments go to `saga-coordinator dev` (e.g. --listen 127.0.0.1:6000).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
say() { echo "[dev $((SECONDS - started))s] $*"; }
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (first run: a minute or two)..."
  # Exactly the committed lock (it lists every platform's optional packages).
  npm ci --no-audit --no-fund --loglevel=notice
fi
say "generating the saga.v1 code (buf generate)..."
npm run generate --silent >/dev/null
say "compiling (tsc -b)..."
npx tsc -b
say "starting the coordinator"
exec node coordinator/dist/cli/main.js dev --demo --log-level "${SAGA_LOG_LEVEL:-warn}" "$@"
