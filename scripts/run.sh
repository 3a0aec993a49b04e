#!/usr/bin/env bash
# `make run`: the hub on the embedded SQLite default with local sandboxes for
# its destinations: the EHR and every vendor sandbox of cmd/vendorsim
# (cmd/vendorsim/sandboxes.go lists them; their addresses and credentials
# come back in var/sandboxes.env) and stripe-mock (Stripe's own mock,
# installed with `go install` on first use). Ctrl-C stops them all.
# VENDORSIM_ARGS adds flags to vendorsim, e.g. "-candid-addr 127.0.0.1:9192"
# when a sandbox's port is taken.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BIN=${BIN:-var/bin}
ADDR=${SWITCHBOARD_ADDR:-127.0.0.1:8080}
EHR_PORT=${EHR_PORT:-9090}
STRIPE_PORT=${STRIPE_MOCK_PORT:-12111}
STRIPE_TLS_PORT=${STRIPE_MOCK_HTTPS_PORT:-$((STRIPE_PORT + 1))}
STRIPE_MOCK_VERSION=v0.203.0
say() { printf '\033[1mswitchboard run:\033[0m %s\n' "$*"; }

# var/ holds the development keys, the API tokens, the SQLite database and
# the sandboxes' logs: the owner's alone (files 0600, folders 0700), also
# where an older make run left them readable.
umask 077
mkdir -p var/log .cache/bin
chmod -R go-rwx var || say "some files in var/ could not be made the owner's alone (see above)"
# var/dev.env replaced var/dev-tokens.env.
rm -f var/dev-tokens.env

# abs makes a path under the project absolute, so var/dev.env works from
# any folder.
abs() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$root" "$1" ;; esac; }

busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pids=()
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stripe_mock=${STRIPE_MOCK_BIN:-$root/.cache/bin/stripe-mock}
if [ ! -x "$stripe_mock" ]; then
  say "installing stripe-mock $STRIPE_MOCK_VERSION into .cache/bin (go install, first run only)"
  GOBIN="$root/.cache/bin" go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION"
fi

# stripe_log filters stripe-mock's output for var/log/stripe-mock.log.
# stripe-mock prints every request's parameters ("Request data = map[name:…
# email:… address:…]") and validation errors that quote them: PHI that the
# development hub must not keep in a file. Its start-up lines pass (a port
# in use is explained there); from the first request on, only the method
# and path, the status, and the kind of a refusal do. Line by line in bash:
# awk would hold lines in its buffer until stripe-mock exits.
stripe_log() {
  local line seen=
  while IFS= read -r line || [ -n "$line" ]; do
    if [ -z "$seen" ] && [[ $line != "Request: "* ]]; then
      printf '%s\n' "$line"
      continue
    fi
    seen=1
    if [[ $line =~ ^Request:\ [A-Z]+\ /[^\ ]*$ || $line =~ ^Response:\ elapsed=[^\ ]+\ status=[0-9]+$ ]]; then
      printf '%s\n' "$line"
    elif [[ $line =~ ^(Request (validation|coercion) error) ]]; then
      printf '%s (details withheld: they can quote the request)\n' "${BASH_REMATCH[1]}"
    fi
  done
}

if busy "$STRIPE_PORT"; then
  say "port $STRIPE_PORT is in use: assuming a stripe-mock is already running there"
else
  "$stripe_mock" -http-addr "127.0.0.1:$STRIPE_PORT" -https-addr "127.0.0.1:$STRIPE_TLS_PORT" \
    > >(stripe_log >var/log/stripe-mock.log) 2>&1 &
  pids+=($!)
fi
if busy "$EHR_PORT"; then echo "port $EHR_PORT is in use; set EHR_PORT" >&2; exit 1; fi
export CALCOM_WEBHOOK_SECRET=${CALCOM_WEBHOOK_SECRET:-whsec_dev_calcom}
# With SWITCHBOARD_TLS_CERT and _KEY the hub serves HTTPS only: every URL of
# it says https, and the sandboxes that call it (Cal.com's webhooks) trust
# its certificate (Go's TLS reads SSL_CERT_FILE on Linux).
scheme=http
sim_env=()
if [ -n "${SWITCHBOARD_TLS_CERT:-}" ]; then
  scheme=https
  sim_env=(env "SSL_CERT_FILE=$SWITCHBOARD_TLS_CERT")
fi
# vendorsim writes var/sandboxes.env once every sandbox listens: that is
# the signal it is up, and the hub's variables for each sandbox
# (<NAME>_BASE_URL and credentials).
rm -f var/sandboxes.env
# shellcheck disable=SC2086
"${sim_env[@]}" "$BIN/vendorsim" -addr "127.0.0.1:$EHR_PORT" -sandboxes 127.0.0.1 -env-file var/sandboxes.env \
  -calcom-webhook-url "$scheme://$ADDR/webhooks/scheduling" ${VENDORSIM_ARGS:-} >var/log/vendorsim.log 2>&1 &
pids+=($!)

ready=
for _ in $(seq 1 200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer sk_test_123' "http://127.0.0.1:$STRIPE_PORT/v1/customers" 2>/dev/null || true)
  if [ "$code" = 200 ] && [ -f var/sandboxes.env ]; then ready=1; break; fi
  kill -0 "${pids[-1]}" 2>/dev/null || break # vendorsim stopped (a port taken?)
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "switchboard run: the sandboxes did not come up; see var/log/stripe-mock.log and var/log/vendorsim.log" >&2
  tail -5 var/log/stripe-mock.log var/log/vendorsim.log >&2 || true
  exit 1
fi

SWITCHBOARD_ROUTES=$(abs "${SWITCHBOARD_ROUTES:-deploy/local/switchboard.yaml}")
SWITCHBOARD_SQLITE_PATH=$(abs "${SWITCHBOARD_SQLITE_PATH:-var/switchboard.db}")
SWITCHBOARD_DEV_KEYS=$(abs "${SWITCHBOARD_DEV_KEYS:-var/dev-keys.env}")
export SWITCHBOARD_ROUTES SWITCHBOARD_SQLITE_PATH SWITCHBOARD_DEV_KEYS
# The sandboxes' variables, exported (set -a) for the hub; their prefixes
# (EHR, CANDID, …) pick what var/dev.env keeps below.
sandbox_prefixes=$(sed -n 's/^\([A-Z][A-Z0-9_]*\)_BASE_URL=.*/\1/p' var/sandboxes.env | paste -sd'|' -)
set -a
# shellcheck disable=SC1091
. var/sandboxes.env
set +a
export STRIPE_BASE_URL="http://127.0.0.1:$STRIPE_PORT"
export STRIPE_API_KEY=${STRIPE_API_KEY:-sk_test_123}
export STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET:-whsec_dev_stripe} CALCOM_WEBHOOK_SECRET=${CALCOM_WEBHOOK_SECRET:-whsec_dev_calcom}
export SWITCHBOARD_LOG_FORMAT=${SWITCHBOARD_LOG_FORMAT:-text}
export SWITCHBOARD_ADDR=$ADDR SWITCHBOARD_URL="$scheme://$ADDR"

# var/dev.env: everything a second terminal needs, from one `source`: the
# hub's URL and this script's settings (every SWITCHBOARD_, DATABASE_URL
# and vendor variable set here: the routing file, the database, the
# sandboxes' addresses and credentials), switchboard on PATH, and the
# tokens of an app, an admin and an auditor client (made once, kept while
# they verify). The CLI sends the admin's token for `admin` commands and
# the auditor's for `audit`, so there is no SWITCHBOARD_TOKEN.
"$BIN/switchboard" migrate >/dev/null
mapfile -t settings < <(compgen -e | grep -E "^(SWITCHBOARD_[A-Z0-9_]+|DATABASE_URL|(STRIPE|$sandbox_prefixes)_[A-Z0-9_]+)\$" |
  grep -vE '^SWITCHBOARD_((APP|ADMIN|AUDITOR)_)?TOKEN$' || true)
trust=()
if [ "$scheme" = https ]; then
  # The CLI (Go) trusts the development certificate through SSL_CERT_FILE
  # and curl through CURL_CA_BUNDLE, kept in var/dev.env only: the hub's
  # own calls to vendors are not changed.
  trust=(env "SSL_CERT_FILE=$(abs "$SWITCHBOARD_TLS_CERT")" "CURL_CA_BUNDLE=$(abs "$SWITCHBOARD_TLS_CERT")")
  settings+=(SSL_CERT_FILE CURL_CA_BUNDLE)
fi
"${trust[@]}" "$BIN/switchboard" clients dev-tokens --out var/dev.env --path "$(abs "$BIN")" \
  --export "$(IFS=,; echo "${settings[*]}")" >/dev/null

cat <<MSG

  Switchboard (embedded SQLite at var/switchboard.db, development keys in var/dev-keys.env)
    FHIR R4 API        $scheme://$ADDR/fhir/R4      (CapabilityStatement: /fhir/R4/metadata)
    transfer status    $scheme://$ADDR/transfers/{id}
    health             $scheme://$ADDR/healthz  $scheme://$ADDR/readyz
    console            $scheme://$ADDR/console/  (sign in with \$SWITCHBOARD_ADMIN_TOKEN or \$SWITCHBOARD_AUDITOR_TOKEN)
    River UI           $scheme://$ADDR/admin/queue/  (after signing in to the console as admin)
  In another terminal, in this folder:  source var/dev.env
    the hub's URL (\$SWITCHBOARD_URL), the routing file and sandboxes, switchboard on PATH,
    and API tokens: \$SWITCHBOARD_APP_TOKEN, \$SWITCHBOARD_ADMIN_TOKEN, \$SWITCHBOARD_AUDITOR_TOKEN
  Sandboxes
    Stripe (stripe-mock) http://127.0.0.1:$STRIPE_PORT
$(grep -o '^[A-Z0-9_]*_BASE_URL=[^ ]*' var/sandboxes.env | sed 's/_BASE_URL=/  /; s/^/    /')   (each with its request log at /_sandbox/log)
  Logs of the sandboxes (method, path and status; no bodies): var/log/.  Ctrl-C stops everything.

MSG
"$BIN/switchboard" serve &
pids+=($!)
wait "${pids[-1]}"
