#!/usr/bin/env bash
# Provisions the real services the integration tests run against (idempotent;
# a second run takes well under a second):
#   - etcd: Debian package `etcd-server`, installed with apt-get when `etcd` is missing;
#   - a MongoDB-wire server: `mongod` or `ferretdb` on PATH if present, otherwise
#     scripts/mongo-java-server/target/mongo-java-server.jar (built here with Maven).
# test/setup/global-setup.ts picks these up; see that file for the lookup order.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[install-test-deps] $*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- etcd ---------------------------------------------------------------------
if command -v etcd >/dev/null 2>&1; then
  say "etcd: present ($(command -v etcd))"
else
  say "etcd: missing, installing Debian package etcd-server..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
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
