#!/usr/bin/env bash
# `make chaos`: the fault suite's full form (cmd/switchboard TestChaos and
# TestPostgresOutageUnderLoad with SWITCHBOARD_CHAOS=full) on a throwaway
# PostgreSQL with its default durability (fsync on), real processes, the EHR
# sandbox's fault switches. The tests append every figure they measure to a
# file ("scenario<TAB>figure<TAB>value<TAB>unit"); this script turns it into
# RELIABILITY.md. Nothing in RELIABILITY.md is typed by hand: rerun
# `make chaos` to refresh it. `make test` runs the short form.
#
#   bash scripts/chaos.sh                 full form, writes RELIABILITY.md
#   CHAOS_RUN='TestChaos/sigkill' bash scripts/chaos.sh   one scenario (-run)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
step() { echo "== chaos: $*"; }

step "PostgreSQL server binaries"
bash scripts/pg.sh install

work=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-chaos.XXXX")
cleanup() {
  bash "$root/scripts/pg.sh" stop "$work" || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "throwaway PostgreSQL cluster (default durability) in $work"
SWITCHBOARD_TEST_PG_URL=$(PG_DURABLE=1 bash scripts/pg.sh start "$work")
export SWITCHBOARD_TEST_PG_URL
export SWITCHBOARD_CHAOS=full
export SWITCHBOARD_CHAOS_FIGURES="$work/figures.tsv"
: >"$SWITCHBOARD_CHAOS_FIGURES"

commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!RELIABILITY.md' || echo ' with local changes')"
run=${CHAOS_RUN:-'^(TestChaos|TestPostgresOutageUnderLoad)$'}
step "go test -run '$run' ./cmd/switchboard/ (about 8 minutes)"
started=$(date -u +%s)
status=0
go test -count=1 -timeout 30m -v -run "$run" ./cmd/switchboard/ >"$work/go-test.log" 2>&1 || status=$?
grep -E '^(=== RUN|--- |\s+--- |ok|FAIL|PASS)|CHAOS-FIGURE' "$work/go-test.log" || true
if [ $status -ne 0 ]; then
  tail -80 "$work/go-test.log"
  step "FAIL (exit $status): RELIABILITY.md left as it was"
  exit $status
fi
# The flood of unsigned webhooks and the Bundle at the entry limit (issue
# 14 §1-2) are measured in-process on both databases (hub/server); their
# figures go to the same file.
flood_run='^(TestUnsignedWebhookFloodCostsNothing|TestBundleAtTheEntryLimit|TestTwoHundredOrderedUpdates)$'
step "go test -run '$flood_run' ./hub/server/"
go test -count=1 -timeout 10m -v -run "$flood_run" ./hub/server/ >"$work/go-test-server.log" 2>&1 || status=$?
grep -E '^(=== RUN|--- |\s+--- |ok|FAIL|PASS)|CHAOS-FIGURE' "$work/go-test-server.log" || true
if [ $status -ne 0 ]; then
  tail -80 "$work/go-test-server.log"
  step "FAIL (exit $status): RELIABILITY.md left as it was"
  exit $status
fi
took=$(( $(date -u +%s) - started ))

# title SCENARIO: the section heading; what SCENARIO: what was done to the hub.
title() {
  case $1 in
    vendor-down) echo "A vendor down under load" ;;
    vendor-429) echo "A vendor answering 429 with Retry-After" ;;
    vendor-slow) echo "A vendor at 5 s latency" ;;
    vendor-reset) echo "Connections reset mid-body" ;;
    postgres-stopped) echo "PostgreSQL stopped and restarted under load" ;;
    postgres-partitioned) echo "PostgreSQL partitioned away under load" ;;
    sigkill) echo "SIGKILL of every hub process mid-load, then a restart" ;;
    webhook-flood) echo "An unsigned-webhook flood" ;;
    oversized-inputs) echo "Oversized inputs" ;;
    ordered-updates) echo "Updates about one patient, in order" ;;
    *) echo "$1" ;;
  esac
}
what() {
  case $1 in
    vendor-down) echo "The EHR sandbox's gateway answers every request 503 (\`mode: down\`) while Patients arrive at 20 a second; the destination's breaker stays open 30 s (its default)." ;;
    vendor-429) echo "The EHR sandbox answers every write 429 with \`Retry-After: 3\` (\`mode: 429\`) under 20 writes a second; the destination's breaker stays open 30 s (its default)." ;;
    vendor-slow) echo "The EHR sandbox answers every request after 5 s (\`latency_ms: 5000\`) under 10 writes a second; the destination has 8 workers." ;;
    vendor-reset) echo "The EHR sandbox applies every write, then resets the TCP connection half-way through its answer (\`mode: reset\`) for 10 s, under 20 writes a second; the destination's breaker stays open 30 s (its default)." ;;
    postgres-stopped) echo "An API process and a worker process under steady load; the database (its own cluster) is stopped for 20 s and started again; nothing is restarted." ;;
    postgres-partitioned) echo "As above, but the connections to the database are cut by a proxy for 20 s (no RST, packets dropped)." ;;
    sigkill) echo "600 Patients sent by 16 clients, the EHR sandbox answering in 200 ms; the hub (role all, the only process) is SIGKILLed once half are accepted, while writes still arrive and deliveries run, and started again; writes that got no answer are sent again with their Idempotency-Key, with the default delivery timeout (15 s) and rescue window (20 s) (docs/decisions/0011-rescue-window.md)." ;;
    webhook-flood) echo "10,000 unsigned \`POST /webhooks/payments\` from 8 clients against one hub (in-process, hub/server TestUnsignedWebhookFloodCostsNothing), on SQLite and PostgreSQL: refusals are counted in a metric and one aggregated transfer-log row per source and reason, not stored one row each." ;;
    ordered-updates) echo "200 updates of one Patient PUT in a row (hub/server TestTwoHundredOrderedUpdates), on SQLite and PostgreSQL: each delivered to the EHR in the order accepted; the time from the last accept to the last delivery. The next delivery about a subject is woken when the previous finishes, but still waits for River's next fetch (issue 16 §5 asks for 100 a second)." ;;
    oversized-inputs) echo "A batch Bundle of exactly the entry limit (SWITCHBOARD_MAX_BUNDLE_ENTRIES, 5,000 Patients, under the 1 MiB body limit; 10,000 deliveries) to an API process (hub/server TestBundleAtTheEntryLimit), on SQLite and PostgreSQL; one entry more is refused once with 413. Vendor answers over \`max_response_bytes\` are covered by hub/reconcile's TestPollSurvivesLargePages (a poll halves its \`_count\`)." ;;
  esac
}

out=RELIABILITY.md
# make fuzz's section (between its markers) is kept as it is.
fuzz_section=$(sed -n '/<!-- fuzz:begin/,/<!-- fuzz:end -->/p' "$out" 2>/dev/null || true)
{
  echo "# Reliability"
  echo
  echo "Written by \`make chaos\` (scripts/chaos.sh) on $(date -u '+%Y-%m-%d %H:%M UTC') at commit"
  echo "$commit,"
  echo "$(nproc) CPUs, $(go version | awk '{print $3}'), PostgreSQL $(psql_v=$(ls -d /usr/lib/postgresql/*/ 2>/dev/null | sort -V | tail -1); basename "${psql_v:-unknown}") with default durability; the run took ${took} s."
  echo "Every figure below was measured in that run: real \`switchboard\` and \`vendorsim\`"
  echo "processes, faults injected through the EHR sandbox's \`POST /_sandbox/faults\`"
  echo "(\`mode\`, \`retry_after_s\`, \`latency_ms\`, \`for_ms\`), the hub on its default"
  echo "timeouts, retries and rescue window. Every scenario also asserts what it"
  echo "reports: a run with a write lost, a duplicate effect, or a rescue slower than"
  echo "30 s fails and leaves this file as it was. \`make test\` runs a short form"
  echo "(vendor down 10 s, 429, SIGKILL) on every change."
  for sc in vendor-down vendor-429 vendor-slow vendor-reset postgres-stopped postgres-partitioned sigkill webhook-flood oversized-inputs ordered-updates \
    $(cut -f1 "$SWITCHBOARD_CHAOS_FIGURES" | awk '!seen[$0]++' | grep -vxE 'vendor-down|vendor-429|vendor-slow|vendor-reset|postgres-stopped|postgres-partitioned|sigkill|webhook-flood|oversized-inputs|ordered-updates' || true); do
    echo
    echo "## $(title "$sc")"
    echo
    w=$(what "$sc"); [ -n "$w" ] && { echo "$w"; echo; }
    if grep -q "^$sc	" "$SWITCHBOARD_CHAOS_FIGURES"; then
      echo "| Figure | Value |"
      echo "|---|---:|"
      awk -F'\t' -v sc="$sc" '$1 == sc { printf "| %s | %s %s |\n", $2, $3, $4 }' "$SWITCHBOARD_CHAOS_FIGURES"
    else
      echo "_Not measured in this run._"
    fi
  done
  if [ -n "$fuzz_section" ]; then
    echo
    echo "$fuzz_section"
  fi
} >"$out"
step "wrote $out"
