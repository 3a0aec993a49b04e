#!/usr/bin/env bash
# `make test`: every test, on SQLite and on a real PostgreSQL, on a fresh
# Debian 12 machine. Installs what is missing (Debian's postgresql when
# initdb is absent, Debian's chromium for the browser tests when it is
# absent, stripe-mock with go install), starts ONE throwaway PostgreSQL
# cluster on a free loopback port for the whole run (tuned for tests:
# fsync off) and removes it on exit, failure or interrupt. Lints deploy/
# with Debian's yamllint (installed when missing).
#
#   bash scripts/test.sh                    go vet + go test ./...
#   bash scripts/test.sh ./hub/testenv/...  arguments replace ./...
#   GO_TEST_FLAGS='-run Foo -v' bash scripts/test.sh   extra go test flags
#   FUZZ_TIME=0 bash scripts/test.sh        skip the short fuzz run (default 50000x)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
step() { echo "== test: $*"; }

STRIPE_MOCK_VERSION=v0.203.0 # keep in step with testenv.StripeMockVersion

step "Go modules (go mod download)"
go mod download

step "PostgreSQL server binaries"
bash scripts/pg.sh install

# Browser tests (hub/console, testenv.Browser) drive Debian's chromium
# headless; a test tool's own browser download does not work here.
step "Chromium for browser tests"
chromium_bin=${SWITCHBOARD_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$chromium_bin" ] || [ ! -x "$chromium_bin" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "test.sh: chromium not found and cannot install it here: as root, apt-get install -y chromium" >&2
    exit 1
  fi
  echo "   installing Debian's chromium (not found)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  chromium_bin=$(command -v chromium || true)
  [ -n "$chromium_bin" ] || { echo "test.sh: installed chromium but cannot find it on PATH" >&2; exit 1; }
fi
export SWITCHBOARD_CHROMIUM=$chromium_bin
echo "   $SWITCHBOARD_CHROMIUM"

# The deployment files: yamllint from Debian (installed when missing); their
# structure is checked by go test ./deploy/ below.
step "lint deploy/ (yamllint; hadolint if present)"
bash scripts/lint-deploy.sh

pgdir=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-pg.XXXX")
cleanup() {
  bash "$root/scripts/pg.sh" stop "$pgdir" || true
  rm -rf "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "throwaway PostgreSQL cluster in $pgdir"
t0=$(date +%s%N)
SWITCHBOARD_TEST_PG_URL=$(bash scripts/pg.sh start "$pgdir")
export SWITCHBOARD_TEST_PG_URL
# The fault suite's short form (cmd/switchboard TestChaos); make chaos runs the full one.
export SWITCHBOARD_CHAOS=${SWITCHBOARD_CHAOS:-short}
echo "   $SWITCHBOARD_TEST_PG_URL (fsync, synchronous_commit, full_page_writes off), up in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

step "stripe-mock $STRIPE_MOCK_VERSION"
export STRIPE_MOCK_BIN="$root/.cache/bin/stripe-mock"
stamp="$root/.cache/bin/.stripe-mock-version"
if [ ! -x "$STRIPE_MOCK_BIN" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$STRIPE_MOCK_VERSION" ]; then
  echo "   go install github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
  GOBIN="$root/.cache/bin" go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
  echo "$STRIPE_MOCK_VERSION" >"$stamp"
fi
echo "   $STRIPE_MOCK_BIN"

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

step "go vet ${pkgs[*]}"
go vet "${pkgs[@]}"

step "go test -count=1 -timeout 15m ${GO_TEST_FLAGS:-} ${pkgs[*]}"
status=0
# GO_TEST_FLAGS is split on spaces on purpose: it holds several flags.
# shellcheck disable=SC2086
go test -count=1 -timeout 15m ${GO_TEST_FLAGS:-} "${pkgs[@]}" || status=$?

# A short run of the FHIR validator's fuzz target (outside input parser) on
# full runs only; its corpus seeds already run as part of go test above.
# The budget is a count of executions, not a duration: Go 1.26's fuzz
# coordinator can report a spurious "context deadline exceeded" failure when
# a -fuzztime duration ends mid-execution (golang/go#75804, fixed in 1.27).
fuzz_time=${FUZZ_TIME:-50000x}
if [ $status -eq 0 ] && [ $# -eq 0 ] && [ "$fuzz_time" != 0 ]; then
  step "fuzz FuzzResource for $fuzz_time"
  go test -run '^$' -fuzz '^FuzzResource$' -fuzztime "$fuzz_time" ./hub/validation/ || status=$?
  # Each webhook signature verifier: never a panic, never a forged body
  # verified. Cheap (HMACs), so the same count runs in a few seconds each.
  for target in FuzzStandardWebhook:./connectors/webhook/ FuzzStripeWebhook:./connectors/stripe/ \
                FuzzCalcomWebhook:./connectors/calcom/ FuzzHubspotWebhook:./connectors/hubspot/; do
    [ $status -eq 0 ] || break
    step "fuzz ${target%%:*} for $fuzz_time"
    go test -run '^$' -fuzz "^${target%%:*}\$" -fuzztime "$fuzz_time" "${target#*:}" || status=$?
  done
fi

if [ $status -eq 0 ]; then step "PASS"; else step "FAIL (exit $status)"; fi
exit $status
