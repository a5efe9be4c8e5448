#!/usr/bin/env bash
# Generates the Python gRPC code for saga.v1 from the repository's proto/ into gen/
# (gitignored). Uses the protoc bundled with grpcio-tools, which also ships the
# google/protobuf well-known types. Run it with the venv's python on PATH, or set
# PYTHON; by default it uses .venv/bin/python when that exists.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
proto_root="$(cd "$here/../../proto" && pwd)"
if [ -n "${PYTHON:-}" ]; then
  python="$PYTHON"
elif [ -x "$here/.venv/bin/python" ]; then
  python="$here/.venv/bin/python"
else
  python=python3
fi

# Build into a fresh folder and swap it in, so gen/ is never half-written.
tmp="$(mktemp -d "$here/.gen.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
"$python" -m grpc_tools.protoc \
  -I "$proto_root" \
  --python_out="$tmp" \
  --pyi_out="$tmp" \
  --grpc_python_out="$tmp" \
  "$proto_root"/saga/v1/*.proto
# Mark the output's age for scripts/install-python-deps.sh.
touch "$tmp/.generated"
rm -rf "$here/gen"
mv "$tmp" "$here/gen"
trap - EXIT
echo "generated $(find "$here/gen" -name '*.py' | wc -l) modules in $here/gen from $proto_root/saga/v1"
