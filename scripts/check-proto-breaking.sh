#!/usr/bin/env bash
# Fails when proto/ breaks wire or source compatibility with the last released
# contract, proto/contract/baseline.binpb (buf breaking, FILE rules). The
# baseline is a committed image, not a git ref, so a shallow clone checks too.
set -euo pipefail
cd "$(dirname "$0")/.."
npx buf breaking --against proto/contract/baseline.binpb
echo "[proto-breaking] ok: proto/ is compatible with the released contract (proto/contract/baseline.binpb)"
