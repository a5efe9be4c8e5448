#!/usr/bin/env bash
# Provisions the real services the integration tests run against (idempotent;
# a second run takes well under a second):
#   - etcd: Debian package `etcd-server`, installed with apt-get when `etcd` is missing;
#   - a MongoDB-wire server: `mongod` or `ferretdb` on PATH if present, otherwise
#     scripts/mongo-java-server/target/mongo-java-server.jar (built here with Maven,
#     which is installed from Debian when missing, with a JDK);
#   - the toolchains of the Python and Go example participants (python3 with venv,
#     Go), from Debian when missing; scripts/install-python-deps.sh and
#     scripts/install-go-deps.sh then set those examples up.
# test/setup/global-setup.ts picks these up; see that file for the lookup order.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[install-test-deps] $*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=false
apt_install() {
  if [ "$apt_updated" = false ]; then
    as_root apt-get update -qq
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

# --- MongoDB-wire server ----------------------------------------------------------
jar=scripts/mongo-java-server/target/mongo-java-server.jar
if command -v mongod >/dev/null 2>&1; then
  say "mongo: mongod present ($(command -v mongod)), skipping mongo-java-server"
elif command -v ferretdb >/dev/null 2>&1; then
  say "mongo: ferretdb present ($(command -v ferretdb)), skipping mongo-java-server"
elif [ -f "$jar" ] && [ "$jar" -nt scripts/mongo-java-server/pom.xml ] \
  && [ -z "$(find scripts/mongo-java-server/src -newer "$jar" -type f -print -quit)" ]; then
  say "mongo: $jar present"
else
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
  say "mongo: building $jar with Maven..."
  log=$(mktemp)
  if ! mvn -q -B -f scripts/mongo-java-server/pom.xml package >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    say "mongo: Maven build failed (output above)" >&2
    exit 1
  fi
  rm -f "$log"
  say "mongo: built $jar"
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
