#!/usr/bin/env bash
# Starts one coordinator in dev mode (in-memory store, no etcd) with example
# participants, runs two demo sagas, and keeps serving on 127.0.0.1:50051.
# Extra arguments go to `saga-coordinator dev` (e.g. --listen 127.0.0.1:6000).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[dev] installing npm dependencies..."
  # `npm install` with the committed lock, not `npm ci`: see README, "Why not npm ci".
  npm install --no-audit --no-fund --loglevel=error
fi
echo "[dev] building..."
npm run build --silent >/dev/null
exec node coordinator/dist/cli/main.js dev --demo --log-level "${SAGA_LOG_LEVEL:-warn}" "$@"
