#!/usr/bin/env bash
# `make fuzz`: every fuzz target in the module for FUZZTIME each, each
# package compiled once; the inputs each run found interesting are kept in
# the package's testdata/fuzz/<Target>/ (go test runs them as seeds from
# then on: commit them), and the figures go into RELIABILITY.md between
# its fuzz markers.
#
#   make fuzz                      every target for 1m
#   make fuzz FUZZTIME=10m         the release habit: 10 minutes each
#   FUZZ_JOBS=2 make fuzz          targets run side by side (default: cores)
#   FUZZ_TARGETS='FuzzResource FuzzParse' make fuzz   only those
#   FUZZ_KEEP=200                  inputs kept per target (default 200)
#
# Each target runs with one fuzzing worker (-parallel 1), FUZZ_JOBS targets
# at a time: the same coverage per core as one target at a time with every
# worker, and the wall time divides by the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fuzztime=${FUZZTIME:-1m}
jobs=${FUZZ_JOBS:-$(nproc)}
keep=${FUZZ_KEEP:-200}
work=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-fuzz.XXXX")
trap 'rm -rf "$work"' EXIT

# Targets: "package-dir Target" lines.
mapfile -t targets < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
  while read -r f; do
    d=$(dirname "$f")
    grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func |$d |"
  done | sort -u)
if [ -n "${FUZZ_TARGETS:-}" ]; then
  mapfile -t targets < <(printf '%s\n' "${targets[@]}" | grep -wE "$(echo "$FUZZ_TARGETS" | tr ' ' '|')")
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets" >&2; exit 1; }
echo "== fuzz: ${#targets[@]} targets, $fuzztime each, $jobs at a time"

# One test binary per package.
for pkg in $(printf '%s\n' "${targets[@]}" | cut -d' ' -f1 | sort -u); do
  bin="$work/$(echo "$pkg" | tr '/.' '__').test"
  echo "   build $pkg"
  # -fuzz makes the build instrument for coverage, as go test -fuzz does.
  go test -c -fuzz=. -o "$bin" "$pkg"
done

run_one() {
  local pkg=$1 target=$2
  local bin="$work/$(echo "$pkg" | tr '/.' '__').test"
  local cache="$work/cache/$(echo "$pkg" | tr '/.' '__')"
  local out="$work/$(echo "$pkg" | tr '/.' '__').$target.out"
  local status=0
  # The test binary runs in its package's directory, as go test would run
  # it: testdata/fuzz/<Target> is read as seeds and a crasher is written
  # there.
  (cd "$root/$pkg" && "$bin" -test.run='^$' -test.fuzz="^${target}\$" -test.fuzztime="$fuzztime" \
     -test.parallel=1 -test.fuzzcachedir="$cache" >"$out" 2>&1) || status=$?
  local last execs interesting crash=0 note=""
  last=$(grep -E '^fuzz: elapsed' "$out" | tail -1 || true)
  execs=$(echo "$last" | sed -nE 's/.*execs: ([0-9]+).*/\1/p')
  interesting=$(echo "$last" | sed -nE 's/.*new interesting: ([0-9]+).*/\1/p')
  if [ $status -ne 0 ]; then
    if grep -q 'Failing input written to' "$out"; then
      crash=1
      note=$(grep -m1 'Failing input written to' "$out" | sed 's/^ *//')
    elif grep -q 'context deadline exceeded' "$out"; then
      # golang/go#75804: the coordinator can fail a run whose time ran out
      # mid-execution; no input failed.
      note="ended with the coordinator's spurious deadline error (golang/go#75804); no failing input"
    else
      crash=1
      note="failed without an input: $(grep -m1 -E 'FAIL|panic|error' "$out" || echo see log)"
    fi
  fi
  # Keep what the run found, up to FUZZ_KEEP inputs per target.
  if [ -d "$cache/$target" ]; then
    mkdir -p "$root/$pkg/testdata/fuzz/$target"
    find "$cache/$target" -type f | head -n "$keep" | while read -r f; do
      cp -n "$f" "$root/$pkg/testdata/fuzz/$target/" 2>/dev/null || true
    done
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pkg" "$target" "${execs:-0}" "${interesting:-0}" "$crash" "$note" >"$out.tsv"
  if [ $crash -ne 0 ]; then
    echo "   FAIL $pkg $target: $note"
    sed 's/^/      /' "$out" | tail -40
  else
    echo "   ok   $pkg $target: ${execs:-0} execs, ${interesting:-0} new interesting"
  fi
}
export -f run_one
export root work fuzztime keep

start=$(date +%s)
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -L 1 bash -c 'run_one "$0" "$1"'
took=$(( $(date +%s) - start ))

doc="$root/RELIABILITY.md"
today=$(date -u +%Y-%m-%d)
# This run's rows, then the rows of targets it did not run (kept from the
# last section, with their own time and date), one per target.
cat "$work"/*.tsv | awk -F'\t' -v t="$fuzztime" -v d="$today" 'BEGIN{OFS="\t"} {print substr($1,3), $2, t, d, $3, $4, $5, $6}' >"$work/rows"
if [ -f "$doc" ]; then
  sed -n '/<!-- fuzz:begin/,/<!-- fuzz:end -->/p' "$doc" | grep -E '^\| `' |
    awk -F' \\| ' 'BEGIN{OFS="\t"} {gsub(/^\| |`/, "", $1); gsub(/`/, "", $2); gsub(/ \|$/, "", $8); print $1, $2, $3, $4, $5, $6, $7, $8}' |
    while IFS=$'\t' read -r p t rest; do
      grep -qP "^\Q$p\E\t\Q$t\E\t" "$work/rows" || printf '%s\t%s\t%s\n' "$p" "$t" "$rest"
    done >>"$work/rows" || true
fi
rows=$(sort "$work/rows")
crashes=$(echo "$rows" | awk -F'\t' '{s+=$7} END {print s+0}')
execs=$(echo "$rows" | awk -F'\t' '{s+=$5} END {print s+0}')
ntargets=$(echo "$rows" | grep -c . || true)

# The section of RELIABILITY.md between the fuzz markers.
section="$work/section.md"
{
  echo "<!-- fuzz:begin (written by make fuzz; do not edit by hand) -->"
  echo "## Fuzzing"
  echo
  echo "Written by \`make fuzz\` (\`FUZZTIME\` per target, one fuzzing worker each, $(nproc) cores, $(go version | cut -d' ' -f3))."
  echo "The last run ($today, ${#targets[@]} targets at $fuzztime, $jobs at a time) took $((took / 60)) min."
  echo "Each row is a target's latest run: $ntargets targets, $execs executions, **$crashes crashes**."
  echo
  echo "| Package | Target | Fuzz time | Date | Executions | New interesting inputs | Crashes | Note |"
  echo "|---|---|---|---|---:|---:|---:|---|"
  echo "$rows" | awk -F'\t' '{printf "| `%s` | `%s` | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8}'
  echo
  echo "Inputs found are kept in each package's \`testdata/fuzz/<Target>/\` (at most $keep per target and run),"
  echo "where \`go test\` runs them as seeds."
  echo "<!-- fuzz:end -->"
} >"$section"

if [ ! -f "$doc" ]; then
  printf '# Reliability\n\nFigures written by `make chaos` and `make fuzz`; each section says how it was measured.\n\n' >"$doc"
fi
if grep -q '<!-- fuzz:begin' "$doc"; then
  awk -v f="$section" '
    /<!-- fuzz:begin/ { while ((getline l < f) > 0) print l; skip=1; next }
    /<!-- fuzz:end -->/ { skip=0; next }
    !skip { print }' "$doc" >"$doc.new" && mv "$doc.new" "$doc"
else
  { echo; cat "$section"; } >>"$doc"
fi
echo "== fuzz: $execs executions, $crashes crashes over the targets' latest runs; RELIABILITY.md written"
[ "$(cat "$work"/*.tsv | awk -F'\t' '{s+=$5} END {print s+0}')" -eq 0 ]
