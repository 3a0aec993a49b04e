#!/usr/bin/env bash
# A throwaway PostgreSQL cluster in a folder, for scripts/test.sh and
# scripts/bench.sh.
#
#   scripts/pg.sh install      install Debian's postgresql if initdb is missing (root)
#   scripts/pg.sh start DIR    initdb DIR/data if needed, start it on a free
#                              127.0.0.1 port, print its URL
#   scripts/pg.sh url DIR      print the URL of the cluster in DIR
#   scripts/pg.sh stop DIR     stop it (fast shutdown); the caller removes DIR
#
# The URL is postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
# (trust auth, loopback only, Unix socket inside DIR). By default the cluster
# is tuned for tests: fsync, synchronous_commit and full_page_writes off.
# PG_DURABLE=1 keeps PostgreSQL's default durability, for benchmarks.
# As root, the cluster runs as the postgres OS user (PostgreSQL refuses root).
set -euo pipefail

die() { echo "pg.sh: $*" >&2; exit 1; }

# find_pg NAME: a server binary on PATH or in /usr/lib/postgresql/*/bin
# (newest version first). Prints nothing if absent.
find_pg() {
  command -v "$1" 2>/dev/null && return 0
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -rn); do
    [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
  done
  return 0
}

install_pg() {
  [ -n "$(find_pg initdb)" ] && return 0
  [ "$(id -u)" = 0 ] || die "PostgreSQL server binaries (initdb) not found, and installing them needs root: apt-get install postgresql"
  command -v apt-get >/dev/null || die "initdb not found and apt-get is unavailable: install PostgreSQL 15 server binaries"
  echo "pg.sh: installing Debian's postgresql (initdb not found)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # The package creates a `main` cluster and may start it; nothing here uses
  # it, so stop whatever the install started (harmless if nothing runs).
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { print $1, $2 }' |
      while read -r ver name; do pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true; done
  fi
  [ -n "$(find_pg initdb)" ] || die "installed postgresql but still cannot find initdb"
}

as_pg=()
setup_user() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the postgres OS user (Debian's postgresql package creates it)"
    as_pg=(runuser -u postgres --)
  fi
}

url_of() { echo "postgres://postgres@127.0.0.1:$(cat "$1/port")/postgres?sslmode=disable"; }

start() {
  local dir=$1 initdb pg_ctl port opts attempt
  initdb=$(find_pg initdb)
  [ -n "$initdb" ] || die "initdb not found on PATH or in /usr/lib/postgresql/*/bin: run \`make test\` (it installs it) or apt-get install postgresql"
  pg_ctl=$(dirname "$initdb")/pg_ctl
  setup_user
  mkdir -p "$dir/data" "$dir/sock"
  chmod 700 "$dir/data"
  if [ ${#as_pg[@]} -gt 0 ]; then
    chown postgres:postgres "$dir" "$dir/data" "$dir/sock"
    "${as_pg[@]}" test -w "$dir" || die "the postgres user cannot write $dir (is TMPDIR inside a private folder such as /root?)"
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    "${as_pg[@]}" "$initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir/sock -c max_connections=${PG_MAX_CONNECTIONS:-300}"
  if [ "${PG_DURABLE:-0}" != 1 ]; then
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  # A random port below Linux's ephemeral range (32768+), so it cannot race
  # with ports the tests take from the kernel; retried if it turns out taken.
  for attempt in 1 2 3 4 5; do
    port=$(( 20000 + RANDOM % 12000 ))
    if (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi # something listens there
    if "${as_pg[@]}" "$pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 -o "$opts -p $port" start >/dev/null 2>&1; then
      echo "$port" >"$dir/port"
      url_of "$dir"
      return 0
    fi
  done
  tail -20 "$dir/pg.log" >&2 2>/dev/null || true
  die "could not start PostgreSQL in $dir (log above)"
}

stop() {
  local dir=$1 initdb
  [ -f "$dir/data/postmaster.pid" ] || return 0
  initdb=$(find_pg initdb)
  setup_user
  "${as_pg[@]}" "$(dirname "$initdb")/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

cmd=${1:-}
case "$cmd" in
  install) install_pg ;;
  start | stop | url)
    [ $# -eq 2 ] || die "usage: $0 $cmd DIR"
    dir=$(cd "$2" 2>/dev/null && pwd) || die "$2: no such folder"
    case "$cmd" in
      start) start "$dir" ;;
      stop) stop "$dir" ;;
      url) [ -f "$dir/port" ] || die "no cluster started in $dir"; url_of "$dir" ;;
    esac
    ;;
  *) die "usage: $0 install | start DIR | stop DIR | url DIR" ;;
esac
