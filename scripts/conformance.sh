#!/usr/bin/env bash
# `make conformance`: every connector's golden requests and one end-to-end
# flow per connector, sent to mocks driven by the vendors' published API
# specs (../shared/vendor-mocks: Prism for the vendors with an OpenAPI spec,
# which answers 4xx with the violations for any request off the spec;
# stripe-mock for Stripe). Every connector with a conformance_test.go is
# checked, and every mock the start script knows is started: a new connector
# changes nothing here. Fails on any violation and prints the count checked
# per vendor.
#
# The specs are not ours to ship, so this needs ../shared beside the project
# (CI has it; .ci/run calls this target only then). Mocks that are already
# running from .cache/vendor-mocks are reused and left running; otherwise the
# script starts them and stops them on exit.
#
#   bash scripts/conformance.sh                  all connectors
#   bash scripts/conformance.sh ./connectors/hubspot/   one
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mocks="$root/../shared/vendor-mocks"
if [ ! -x "$mocks/start" ]; then
  echo "conformance: $mocks/start not found; this target needs ../shared (the vendors' specs and mocks) beside the project" >&2
  exit 2
fi

cache="$root/.cache/vendor-mocks"
envfile="$cache/env"
answers() { curl -s -o /dev/null --max-time 2 "$1" ; }
reuse=false
if [ -f "$envfile" ]; then
  reuse=true
  while IFS='=' read -r _ url; do
    [ -n "$url" ] && answers "$url" || reuse=false
  done <"$envfile"
fi
if $reuse; then
  echo "== conformance: reusing the vendor mocks already running ($envfile)"
else
  echo "== conformance: starting the vendor mocks"
  "$mocks/stop" >/dev/null 2>&1 || true
  # The mocks' usual ports may be taken (a make run, another checkout's
  # mocks): take the next free ones instead of failing.
  busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  next=20411
  # Each mock's port variable and default, as the start script declares
  # them (VENDOR_MOCKS_<NAME>_PORT:-<port>).
  mock_ports=$(grep -o 'VENDOR_MOCKS_[A-Z_]*_PORT:-[0-9]*' "$mocks/start" | sort -u)
  if [ -z "$mock_ports" ]; then
    echo "conformance: $mocks/start declares no VENDOR_MOCKS_*_PORT: cannot move a mock off a taken port" >&2
  fi
  for v in $mock_ports; do
    var=${v%%:-*} port=${v##*:-} name=${var#VENDOR_MOCKS_} name=${name%_PORT}
    if [ -z "${!var:-}" ] && busy "$port"; then
      while busy "$next"; do next=$((next + 1)); done
      export "$var=$next"
      next=$((next + 1))
      echo "   port $port is taken: ${name,,} mock on ${!var}"
    fi
  done
  "$mocks/start"
  trap '"$mocks/stop" >/dev/null 2>&1 || true' EXIT
fi
set -a
# shellcheck disable=SC1090
. "$envfile"
set +a

pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  # Every connector with a conformance test.
  for f in connectors/*/conformance_test.go; do pkgs+=("./$(dirname "$f")/"); done
fi
out=$(mktemp)
status=0
echo "== conformance: go test -tags conformance -run Conformance ${pkgs[*]}"
go test -count=1 -tags conformance -run Conformance -v "${pkgs[@]}" >"$out" 2>&1 || status=$?
grep -E '^(--- FAIL|FAIL|ok|panic)|violation|conformance:' "$out" || true
if [ $status -ne 0 ]; then
  echo "== conformance: FAIL (full output: $out)"
  exit $status
fi
checked=$(grep -c '^conformance: ' "$out" || true)
if [ "$checked" -eq 0 ]; then
  echo "== conformance: FAIL: no connector reported a count (no conformance test ran)"
  exit 1
fi
echo "== conformance: PASS ($checked connectors)"
rm -f "$out"
