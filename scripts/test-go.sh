#!/usr/bin/env bash
# Tests the Go example participant: install-go-deps.sh (plugins, gen/, build),
# then go vet and go test in examples/go-participant. Extra arguments go to
# `go test` (e.g. scripts/test-go.sh -race -count=1).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-go-deps.sh
cd examples/go-participant
go vet ./...
go test ./... "$@"
