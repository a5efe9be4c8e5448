#!/usr/bin/env bash
# Installs what the tests need (etcd, a MongoDB-wire server, npm packages;
# idempotent and quick when already there), builds, and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[test] installing npm dependencies..."
  # Exactly the committed lock (it lists every platform's optional packages).
  npm ci --no-audit --no-fund --loglevel=error
fi
# The Python and Go example participants: venv, generated code, builds (Go's codegen uses buf from npm).
bash scripts/install-python-deps.sh
bash scripts/install-go-deps.sh
echo "[test] building..."
npm run build --silent
echo "[test] running vitest (unit + integration)..."
npx vitest run "$@"
echo "[test] running the Python participant's tests (pytest)..."
bash scripts/test-python.sh
echo "[test] running the Go participant's tests (go test)..."
bash scripts/test-go.sh
