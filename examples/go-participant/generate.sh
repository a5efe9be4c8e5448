#!/usr/bin/env bash
# Generates the Go code for saga.v1 (proto/saga/v1/participant.proto) into gen/.
# Installs protoc-gen-go and protoc-gen-go-grpc with `go install` when missing
# (or at another version), then runs buf with them as local plugins
# (buf.gen.yaml; buf comes from the repository's node_modules).
#   ./generate.sh                    install the plugins if needed, generate
#   ./generate.sh --install-plugins  only install the plugins if needed
set -euo pipefail
cd "$(dirname "$0")"

# protoc-gen-go matches the google.golang.org/protobuf version in go.mod.
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

gobin="$(go env GOBIN)"
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"

say() { echo "[go-participant generate] $*"; }

# `protoc-gen-go --version` prints "protoc-gen-go v1.36.12";
# `protoc-gen-go-grpc --version` prints "protoc-gen-go-grpc 1.6.2".
installed_version() { "$1" --version 2>/dev/null | awk '{print $2}' | sed 's/^v*/v/'; }

ensure_plugin() { # name module version
  if [ "$(installed_version "$1")" != "$3" ]; then
    say "installing $1 $3"
    go install "$2@$3"
  fi
}
ensure_plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
ensure_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
[ "${1:-}" = "--install-plugins" ] && exit 0

buf=../../node_modules/.bin/buf
if [ ! -x "$buf" ]; then
  buf="$(command -v buf || true)"
  [ -n "$buf" ] || { say "buf not found: run 'npm install' at the repository root" >&2; exit 1; }
fi

rm -rf gen
"$buf" generate --template buf.gen.yaml
say "generated $(find gen -name '*.go' | wc -l | tr -d ' ') files in gen/"
