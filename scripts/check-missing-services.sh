#!/usr/bin/env bash
# Checks the integration tests' "no services" failure: with SAGA_TEST_SERVICES=none
# (see test/setup/global-setup.ts) the run must fail, name scripts/install-test-deps.sh,
# and print no stack frames.
set -euo pipefail
cd "$(dirname "$0")/.."

set +e
output=$(SAGA_TEST_SERVICES=none npx vitest run --project integration 2>&1)
status=$?
set -e

problems=()
[ "$status" -ne 0 ] || problems+=("vitest exited 0; expected a failure")
grep -q "install-test-deps.sh" <<<"$output" || problems+=("output does not mention install-test-deps.sh")
if grep -Eq '^[[:space:]]*at ' <<<"$output"; then problems+=("output contains stack frame lines"); fi

if [ "${#problems[@]}" -gt 0 ]; then
  echo "[check-missing-services] FAIL:"
  printf '  - %s\n' "${problems[@]}"
  echo "--- vitest output (exit $status) ---"
  echo "$output"
  exit 1
fi
echo "[check-missing-services] ok: vitest exited $status with a short message naming install-test-deps.sh"
