#!/usr/bin/env bash
# The main job against the embedded lab, on the example inventory. Run through `make demo`.
# The deployment starts broken (Expressways on factory temporary certificates, no trust between
# the nodes): the doctor says what is wrong, mrakit plans the fix, applies it phase by phase,
# verifies it, a second plan shows nothing left to do, and the doctor is clean of errors.
set -euo pipefail
cd "$(dirname "$0")/.."
# The lab's passwords come from the environment, as the inventory says; never from the file.
export MRAKIT_EXPRESSWAY_PASSWORD="${MRAKIT_EXPRESSWAY_PASSWORD:-lab-admin-password}"
export MRAKIT_CUCM_PASSWORD="${MRAKIT_CUCM_PASSWORD:-lab-ccm-password}"
MRAKIT=.venv/bin/mrakit
INV=inventory.example.yaml

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$@"; "$@"; }
# Commands that report findings or pending changes exit 2 on purpose; the demo shows them and goes on.
show() { step "$@"; "$@" || { rc=$?; [ "$rc" -eq 2 ] || exit "$rc"; echo "(exit $rc: needs attention)"; }; }

run $MRAKIT lab init -i $INV --scenario temporary-certs
show $MRAKIT validate -i $INV
show $MRAKIT doctor -i $INV
show $MRAKIT plan -i $INV --detailed-exitcode
mkdir -p build
run $MRAKIT apply -i $INV --yes --report build/apply-report.json
run $MRAKIT plan -i $INV --detailed-exitcode
run $MRAKIT apply -i $INV --yes
show $MRAKIT doctor -i $INV
run $MRAKIT lab status -i $INV
show $MRAKIT cert verify pki/expe1.pem --trust pki/public-chain.pem --purpose server
