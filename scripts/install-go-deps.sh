#!/usr/bin/env bash
# Prepares the Go example participant (examples/go-participant); idempotent and
# fast once done:
#   - installs protoc-gen-go and protoc-gen-go-grpc (go install) if missing;
#   - regenerates gen/ (generate.sh: buf with those plugins) when it is missing
#     or older than proto/saga/v1/participant.proto or the generator config;
#   - go build ./... (downloads the Go modules on first run).
# Needs Go (see go.mod) and the repository's npm packages (for buf): npm ci.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[install-go-deps] $*"; }
dir=examples/go-participant

if ! command -v go >/dev/null 2>&1; then
  say "go is not on PATH; install Go $(sed -n 's/^go //p' "$dir/go.mod") or newer" >&2
  exit 1
fi

"$dir/generate.sh" --install-plugins

stale=""
for out in "$dir/gen/saga/v1/participant.pb.go" "$dir/gen/saga/v1/participant_grpc.pb.go"; do
  if [ ! -f "$out" ]; then
    stale="missing $out"
    break
  fi
  for src in proto/saga/v1/participant.proto "$dir/buf.gen.yaml" "$dir/generate.sh"; do
    if [ "$src" -nt "$out" ]; then
      stale="$src is newer than $out"
      break 2
    fi
  done
done
if [ -n "$stale" ]; then
  say "generating ($stale)"
  "$dir/generate.sh"
else
  say "gen/ is up to date"
fi

(cd "$dir" && go build ./...)
say "go build ./... ok"
