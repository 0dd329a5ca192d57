#!/usr/bin/env bash
# The main job against the embedded lab, on the example inventory. Run through `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
export MRAKIT_EXPRESSWAY_PASSWORD="${MRAKIT_EXPRESSWAY_PASSWORD:-lab-admin-password}"
export MRAKIT_CUCM_PASSWORD="${MRAKIT_CUCM_PASSWORD:-lab-ccm-password}"
MRAKIT=.venv/bin/mrakit
INV=inventory.example.yaml

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$@"; "$@"; }
# Commands that report findings exit 2 on purpose; the demo shows them and goes on.
show() { step "$@"; "$@" || { rc=$?; [ "$rc" -eq 2 ] || exit "$rc"; echo "(exit $rc: findings that need attention)"; }; }

run $MRAKIT lab init -i $INV
show $MRAKIT validate -i $INV
run $MRAKIT desired -i $INV --node expc1.acme.local
show $MRAKIT cert show pki/expe1.pem
show $MRAKIT cert verify pki/expe1.pem --trust pki/public-chain.pem --purpose server
show $MRAKIT cert verify pki/expe1.pem --trust pki/acme-root.pem --purpose server
