#!/usr/bin/env bash
# `make bench`: Switchboard against a bare River baseline, in one run, on a
# throwaway PostgreSQL with its DEFAULT durability settings (fsync and
# synchronous_commit on), then Go micro-benchmarks. Writes BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

find_pg() {
  command -v "$1" 2>/dev/null && return
  ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | tail -1
}
initdb=$(find_pg initdb || true)
if [ -z "$initdb" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bench: installing Debian's postgresql"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    initdb=$(find_pg initdb)
  else
    echo "bench: initdb not found; install PostgreSQL" >&2; exit 1
  fi
fi
pg_ctl=$(dirname "$initdb")/pg_ctl

base=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-bench-pg.XXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55439)
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); chown postgres:postgres "$base"; fi
"${as_pg[@]}" "$initdb" -D "$base/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
cleanup() { "${as_pg[@]}" "$pg_ctl" -D "$base/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$base"; }
trap cleanup EXIT
"${as_pg[@]}" "$pg_ctl" -D "$base/data" -l "$base/pg.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$base -c max_connections=200" start >/dev/null
url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "bench: PostgreSQL on 127.0.0.1:$port (default durability)"

cp_prof() { cp "$base/accept.cpu" /tmp/prof/ 2>/dev/null || true; }; go run ./cmd/loadgen -db "$url" -out BENCHMARKS.md -cpuprofile "$base/accept.cpu" ${LOADGEN_FLAGS:-}
{
  echo
  echo "## Where the hub's accept path spends its CPU (pprof, last round, top by cumulative)"
  echo
  echo '```'
  go tool pprof -top -cum -nodecount=25 "$base/accept.cpu" 2>&1 | sed -n '1,35p'
  echo '```'
  echo
  echo "## Go micro-benchmarks"
  echo
  echo '```'
  go test -run '^$' -bench . -benchtime 2000x ./hub/validation/ ./hub/seal/ ./cmd/vendorsim/... 2>/dev/null | grep -E '^(Benchmark|ok)'
  echo '```'
} >> BENCHMARKS.md
echo "bench: wrote BENCHMARKS.md"
