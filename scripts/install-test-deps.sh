#!/usr/bin/env bash
# Provisions the real services the integration tests run against (idempotent;
# a second run takes about a second):
#   - etcd: Debian package `etcd-server`, installed with apt-get when `etcd` is missing;
#   - a durable MongoDB-wire server: FerretDB v1.24.2 on PostgreSQL 15. PostgreSQL
#     comes from Debian (`postgresql`); FerretDB is built from its Go module into
#     .test-services/bin/ferretdb (git-ignored). A `mongod` on PATH is preferred by
#     the tests but the store-restart test and the chaos suite use FerretDB on
#     PostgreSQL, so it is provisioned anyway. Only when PostgreSQL cannot be installed, the
#     fallback scripts/mongo-java-server/target/mongo-java-server.jar (in memory,
#     not durable) is built with Maven instead;
#   - the toolchains of the Python and Go example participants (python3 with venv,
#     Go), from Debian when missing; scripts/install-python-deps.sh and
#     scripts/install-go-deps.sh then set those examples up.
# The test services module (test/services, see its README) starts these on free
# ports in temp dirs; it is used by test/setup/global-setup.ts, the benchmark and
# the chaos suite. Runs as root, or as a user with sudo for the apt-get steps.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[install-test-deps] $*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=false
apt_install() {
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    say "not root and no sudo: run this script as root, or install the Debian packages yourself" >&2
    say "  (as root: apt-get install $*), then run it again" >&2
    return 1
  fi
  if [ "$apt_updated" = false ]; then
    as_root apt-get update -qq || return 1
    apt_updated=true
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- etcd ---------------------------------------------------------------------
if command -v etcd >/dev/null 2>&1; then
  say "etcd: present ($(command -v etcd))"
else
  say "etcd: missing, installing Debian package etcd-server..."
  apt_install etcd-server
  say "etcd: installed ($(command -v etcd))"
fi

# --- toolchains of the Python and Go example participants -------------------------
if command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  say "python: present ($(python3 --version 2>&1))"
else
  say "python: installing python3 and python3-venv from Debian..."
  apt_install python3 python3-venv python3-pip
fi
if command -v go >/dev/null 2>&1; then
  say "go: present ($(go version | cut -d' ' -f3))"
else
  # Debian's Go may be older than examples/go-participant/go.mod asks for; Go 1.21+
  # then fetches the right toolchain through the module proxy (GOTOOLCHAIN=auto).
  say "go: installing golang-go from Debian..."
  apt_install golang-go ca-certificates
fi

# --- MongoDB-wire server ----------------------------------------------------------
FERRETDB_VERSION=v1.24.2
ferretdb=.test-services/bin/ferretdb
jar=scripts/mongo-java-server/target/mongo-java-server.jar

# Directory of initdb/pg_ctl/postgres: Debian's newest /usr/lib/postgresql/*/bin, else PATH.
postgres_bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return 0
    fi
  done
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && dirname "$(command -v initdb)"
}

# Our patches to FerretDB (see each file's header); their checksum is kept next to the binary.
ferretdb_patches=(scripts/ferretdb/*.patch)
patches_sum() { cat "${ferretdb_patches[@]}" | sha256sum | cut -d' ' -f1; }

ferretdb_is_current() {
  # Not `--version | grep -q`: grep quits at the first match, and under pipefail the
  # writer's SIGPIPE would fail the check at random.
  [ -x "$ferretdb" ] && grep -qx "version: $FERRETDB_VERSION" <<<"$("$ferretdb" --version 2>/dev/null)" \
    && [ "$(cat "$ferretdb.patches" 2>/dev/null)" = "$(patches_sum)" ]
}

# The module proxy serves FerretDB's source but its zip lacks build/version/version.txt
# (`go install` gives a binary that panics at start), so: download, add the file,
# apply scripts/ferretdb/*.patch (FerretDB 1.x lets concurrent conditional updates of
# one document all apply, and deadlocks under many concurrent updates), build.
build_ferretdb() {
  local module dir src log
  module="github.com/FerretDB/FerretDB@$FERRETDB_VERSION"
  log=$(mktemp)
  say "mongo: building FerretDB $FERRETDB_VERSION into $ferretdb (Go module $module; takes a few minutes once)..."
  if ! dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "$module" 2>"$log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') || [ -z "$dir" ]; then
    cat "$log" >&2
    rm -f "$log"
    say "mongo: go mod download $module failed (output above)" >&2
    return 1
  fi
  # Outside this repository, so that `git apply` patches plain files.
  src=$(mktemp -d)/ferretdb-$FERRETDB_VERSION
  mkdir -p "$(dirname "$ferretdb")"
  cp -R "$dir" "$src"
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  local patch
  for patch in "${ferretdb_patches[@]}"; do
    if ! (cd "$src" && git apply -p1 "$OLDPWD/$patch") 2>"$log"; then
      cat "$log" >&2
      say "mongo: could not apply $patch to FerretDB $FERRETDB_VERSION" >&2
      return 1
    fi
  done
  if ! (cd "$src" && go build -o "$OLDPWD/$ferretdb.tmp" ./cmd/ferretdb) >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log" "$ferretdb.tmp"
    say "mongo: go build of FerretDB failed (output above)" >&2
    return 1
  fi
  rm -f "$log"
  rm -rf "$(dirname "$src")"
  mv "$ferretdb.tmp" "$ferretdb"
  patches_sum >"$ferretdb.patches"
  ferretdb_is_current || { say "mongo: $ferretdb --version does not say $FERRETDB_VERSION" >&2; return 1; }
  say "mongo: built $ferretdb"
}

build_mongo_java_server() {
  if [ -f "$jar" ] && [ "$jar" -nt scripts/mongo-java-server/pom.xml ] \
    && [ -z "$(find scripts/mongo-java-server/src -newer "$jar" -type f -print -quit)" ]; then
    say "mongo: fallback $jar present"
    return 0
  fi
  if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    say "mongo: installing a JDK and Maven from Debian to build $jar..."
    apt_install openjdk-17-jdk-headless maven
  fi
  for tool in java mvn; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      say "mongo: '$tool' is needed to build $jar (Debian: apt-get install openjdk-17-jdk-headless maven)" >&2
      exit 1
    fi
  done
  say "mongo: building the fallback $jar with Maven..."
  local log
  log=$(mktemp)
  if ! mvn -q -B -f scripts/mongo-java-server/pom.xml package >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    say "mongo: Maven build failed (output above)" >&2
    exit 1
  fi
  rm -f "$log"
  say "mongo: built $jar"
}

if command -v mongod >/dev/null 2>&1; then
  say "mongo: mongod present ($(command -v mongod)); the tests use it, the store-restart test and chaos suite FerretDB"
fi
pg_bin=$(postgres_bindir || true)
if [ -z "$pg_bin" ]; then
  say "postgresql: missing, installing Debian package postgresql..."
  if apt_install postgresql; then
    pg_bin=$(postgres_bindir || true)
  fi
fi
if [ -n "$pg_bin" ]; then
  say "postgresql: present ($pg_bin)"
  if ferretdb_is_current; then
    say "mongo: FerretDB $FERRETDB_VERSION present ($ferretdb)"
  elif ! command -v go >/dev/null 2>&1; then
    say "mongo: Go is needed to build FerretDB (see the toolchain step above)" >&2
    exit 1
  else
    build_ferretdb
  fi
else
  say "postgresql: could not be installed; falling back to mongo-java-server (in memory, NOT durable;" >&2
  say "  the store-restart test needs FerretDB on PostgreSQL). As root: apt-get install postgresql" >&2
  build_mongo_java_server
fi

# grpcurl: what the README's examples and the reflection test use (not in Debian).
GRPCURL_VERSION=v1.9.4
grpcurl=.test-services/bin/grpcurl
# `go install` leaves grpcurl's -version empty, so the version built is kept next to it.
if [ -x "$grpcurl" ] && [ "$(cat "$grpcurl.version" 2>/dev/null)" = "$GRPCURL_VERSION" ]; then
  say "grpcurl: $GRPCURL_VERSION present ($grpcurl)"
elif command -v go >/dev/null 2>&1; then
  say "grpcurl: building $GRPCURL_VERSION into $grpcurl (go install)..."
  mkdir -p "$(dirname "$grpcurl")"
  if ! GOBIN="$PWD/$(dirname "$grpcurl")" GOFLAGS=-mod=mod go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" 2>&1 | tail -5; then
    say "grpcurl: go install failed (output above)" >&2
    exit 1
  fi
  echo "$GRPCURL_VERSION" >"$grpcurl.version"
  say "grpcurl: built $grpcurl"
else
  say "grpcurl: Go is needed to build it (see the toolchain step above)" >&2
  exit 1
fi
