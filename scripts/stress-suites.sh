#!/usr/bin/env bash
# Runs the integration and cluster suites (vitest project "integration") N
# times in a row while CPU burners run beside them (STRESS_BURNERS, default 1:
# one core of a 2-core CI machine taken), and says which runs failed. This is
# how flakes that only a loaded CI machine shows are hunted:
#   bash scripts/stress-suites.sh [runs=5] [extra vitest args...]
# Needs what the tests need (bash scripts/install-test-deps.sh) and a build.
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
shift || true
burners=()
stop_burners() { for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null; done; }
trap stop_burners EXIT
for _ in $(seq "${STRESS_BURNERS:-1}"); do
  node -e 'for (;;) Math.sqrt(Math.random());' &
  burners+=("$!")
done
echo "[stress] ${#burners[@]} CPU burner(s) running on $(nproc) cores; ${runs} runs of the integration project"
failed=0
mkdir -p "${TMPDIR:-/tmp}/saga-stress"
for i in $(seq "$runs"); do
  log="${TMPDIR:-/tmp}/saga-stress/run-${i}.log"
  start=$(date +%s)
  if npx vitest run --project integration "$@" >"$log" 2>&1; then
    echo "[stress] run ${i}/${runs}: PASS in $(($(date +%s) - start)) s ($(grep -E '^ +Tests ' "$log" | tr -s ' '))"
  else
    failed=$((failed + 1))
    echo "[stress] run ${i}/${runs}: FAIL in $(($(date +%s) - start)) s; log: ${log}"
    grep -E '^ (FAIL|×)' "$log" | head -20
  fi
done
echo "[stress] ${runs} runs, ${failed} failed"
[ "$failed" -eq 0 ]
