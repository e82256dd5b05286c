#!/usr/bin/env bash
# Runs `attnconf run` on a worker of workers/ with the project's .venv (scripts/setup-venv.sh).
# Without the venv the test is skipped (exit 77) locally and fails in CI, which must have made it.
# Case counts are reduced when CI is set (to $ATTNCONF_CI_CASES valid cases per property, 25 unless
# a slow worker's test sets fewer).
# Usage: run_worker.sh ATTNCONF SOURCE_DIR WORKDIR WORKER [attnconf run options...]
set -euo pipefail
attnconf=$1 source=$2 work=$3 worker=$4
shift 4
python="$source/.venv/bin/python"
if [[ ! -x $python ]]; then
  echo "no $python: run scripts/setup-venv.sh"
  [[ -n ${CI:-} ]] && exit 1 || exit 77
fi
sizes=(--cases 60 --error-cases 12)
if [[ -n ${CI:-} ]]; then
  sizes=(--cases "${ATTNCONF_CI_CASES:-25}" --error-cases 6)
  [[ " $* " == *" --signature-seqlen "* ]] || sizes+=(--signature-seqlen 513)
fi
rm -rf "$work" && mkdir -p "$work" && cd "$work"
ATTNCONF_PYTHON=$python exec "$attnconf" run --adapter "$worker" "${sizes[@]}" "$@" --results results.json
