#!/usr/bin/env bash
# Lint the deployment files in deploy/: yamllint (Debian's, installed with
# apt-get when missing, as root) over every YAML file with deploy/.yamllint,
# strict (warnings fail), and hadolint over deploy/Dockerfile when hadolint
# is on PATH (it is not a Debian package; it is skipped otherwise).
# The manifests' structure (Kubernetes types, cross-references, Compose
# specification) is checked by `go test ./deploy/`.
#
#   bash scripts/lint-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v yamllint >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "lint-deploy.sh: yamllint not found and cannot install it here: as root, apt-get install -y yamllint" >&2
    exit 1
  fi
  echo "   installing Debian's yamllint (not found)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq yamllint >/dev/null
fi

echo "== lint-deploy: yamllint $(yamllint --version | awk '{print $2}') deploy/"
yamllint -s -c deploy/.yamllint deploy/

if command -v hadolint >/dev/null; then
  echo "== lint-deploy: hadolint deploy/Dockerfile"
  hadolint deploy/Dockerfile
else
  echo "== lint-deploy: hadolint not installed, Dockerfile lint skipped"
fi
echo "== lint-deploy: PASS"
