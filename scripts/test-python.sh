#!/usr/bin/env bash
# Runs the Python participant's pytest suite (examples/python-participant/tests) with
# its venv, after scripts/install-python-deps.sh. Extra arguments go to pytest, e.g.
#   scripts/test-python.sh -k barrier -v
# The conformance test runs the kit from participant-sdk/dist: build it first with
# `npx tsc -b` at the repository root, or it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-python-deps.sh
cd examples/python-participant
exec .venv/bin/python -m pytest "$@"
