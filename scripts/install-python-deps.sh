#!/usr/bin/env bash
# Sets up examples/python-participant (idempotent; a second run takes well under a second):
#   - .venv: created with `python3 -m venv` when missing (set PYTHON to use another
#     interpreter; Python 3.11 or later);
#   - requirements.txt: pip-installed into .venv when it changed since the last install
#     (a checksum stamp is kept in .venv/.requirements.sha256);
#   - gen/: the saga.v1 gRPC code, regenerated with generate.sh when missing, older than
#     a proto file or generate.sh, or after the requirements changed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[install-python-deps] $*"; }

dir=examples/python-participant
venv="$dir/.venv"
python="$venv/bin/python"
stamp="$venv/.requirements.sha256"
python_bin="${PYTHON:-python3}"

# --- venv -------------------------------------------------------------------------
if [ ! -x "$python" ]; then
  if ! command -v "$python_bin" >/dev/null 2>&1; then
    say "'$python_bin' not found: install Python 3.11+ (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
  fi
  if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    say "$("$python_bin" --version 2>&1) is too old: Python 3.11+ is needed (set PYTHON=python3.11)" >&2
    exit 1
  fi
  say "creating $venv with $("$python_bin" --version 2>&1)..."
  rm -rf "$venv"
  if ! "$python_bin" -m venv "$venv"; then
    rm -rf "$venv"
    say "creating $venv failed (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  rm -f "$stamp"
fi

# --- requirements -----------------------------------------------------------------
want="$(sha256sum "$dir/requirements.txt" | cut -d' ' -f1)"
installed=false
if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
  say "requirements: up to date"
else
  say "requirements: installing $dir/requirements.txt..."
  "$python" -m pip install --disable-pip-version-check --no-input -q -r "$dir/requirements.txt"
  echo "$want" >"$stamp"
  installed=true
  say "requirements: installed"
fi

# --- generated code ---------------------------------------------------------------
marker="$dir/gen/.generated"
if [ ! -f "$marker" ]; then
  reason="gen/ is missing"
elif [ "$installed" = true ]; then
  reason="the requirements changed"
elif [ -n "$(find proto/saga "$dir/generate.sh" -newer "$marker" \( -name '*.proto' -o -name generate.sh \) -print -quit)" ]; then
  reason="a proto file or generate.sh changed"
else
  reason=""
fi
if [ -n "$reason" ]; then
  say "gen: $reason, running generate.sh..."
  PYTHON="$python" "$dir/generate.sh" >/dev/null
  say "gen: generated"
else
  say "gen: up to date"
fi
