#!/usr/bin/env bash
# `make test`: everything, on SQLite and on a throwaway PostgreSQL.
# Installs what is missing (Debian's postgresql when initdb is absent,
# stripe-mock with go install), starts one PostgreSQL cluster on a free
# loopback port for the whole run and removes it afterwards.
# Arguments, if any, replace ./... (e.g. scripts/test.sh ./hub/...).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
say() { echo "test: $*"; }

say "Go modules"
go mod download

find_pg() { command -v "$1" 2>/dev/null || ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | tail -1; }
initdb=$(find_pg initdb || true)
if [ -z "$initdb" ]; then
  if [ "$(id -u)" != 0 ]; then echo "test: PostgreSQL is missing and installing it needs root (apt-get install postgresql)" >&2; exit 1; fi
  say "installing Debian's postgresql (initdb not found)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # The package starts a default cluster; this run does not use it.
  (command -v service >/dev/null && service postgresql stop >/dev/null 2>&1) || true
  initdb=$(find_pg initdb)
fi
pg_ctl=$(dirname "$initdb")/pg_ctl

base=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-pg.XXXX")
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); chown postgres:postgres "$base"; fi
port=$( (exec 3<>/dev/null; python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') 2>/dev/null || echo 55433)
cleanup() {
  "${as_pg[@]}" "$pg_ctl" -D "$base/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$base"
}
trap cleanup EXIT INT TERM
start=$(date +%s%N)
"${as_pg[@]}" "$initdb" -D "$base/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${as_pg[@]}" "$pg_ctl" -D "$base/data" -l "$base/pg.log" -w -o \
  "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$base -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start >/dev/null
export SWITCHBOARD_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
say "PostgreSQL $("$initdb" --version | awk '{print $3}') on 127.0.0.1:$port (tuned for tests: fsync off), up in $(( ($(date +%s%N) - start) / 1000000 )) ms"

STRIPE_MOCK_VERSION=v0.203.0
if [ ! -x "$root/.cache/bin/stripe-mock" ]; then
  say "installing stripe-mock $STRIPE_MOCK_VERSION (go install)"
  GOBIN="$root/.cache/bin" go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
fi
export STRIPE_MOCK_BIN="$root/.cache/bin/stripe-mock"

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)
say "go vet"
go vet "${pkgs[@]}"
say "go test ${pkgs[*]}"
set +e
go test -count=1 -timeout 15m ${GO_TEST_FLAGS:-} "${pkgs[@]}"
status=$?
set -e
if [ $status -eq 0 ] && [ $# -eq 0 ]; then
  say "fuzzing the FHIR validator for 10s"
  go test -run '^$' -fuzz FuzzResource -fuzztime 10s ./hub/validation/ || status=$?
fi
[ $status -eq 0 ] && say "PASS" || say "FAIL"
exit $status
