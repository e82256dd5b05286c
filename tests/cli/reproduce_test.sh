#!/usr/bin/env bash
# A failure's repro lines work: the RC_PARAMS line fails again with the same shrunk case, the saved
# case fails on replay with the same adapter, and passes on the faithful kernel.
# Usage: reproduce_test.sh ATTNCONF WORKDIR
set -euo pipefail
attnconf=$1
work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work"
mutant=cpu_flash_mutant_causal_top_left
api=(--api flash_attn_func)

first=$("$attnconf" run "${api[@]}" --adapter $mutant --only Accuracy --results first.json --failure-dir first) && {
  echo "expected the mutant to fail"; exit 1; }
grep -q '^0 passed, 0 expected failures, 1 failed$' <<<"$first"
message=$(grep -m1 '^\[flash_attn_func' <<<"$first")
params=$(grep -m1 -o 'RC_PARAMS="[^"]*"' <<<"$first" | sed 's/^RC_PARAMS="//; s/"$//')
[[ $params == reproduce=* ]] || { echo "no reproduce string in: $first"; exit 1; }

again=$(RC_PARAMS="$params" "$attnconf" run "${api[@]}" --adapter $mutant --only Accuracy --results again.json \
        --failure-dir again) && { echo "the reproduce string did not fail again"; exit 1; }
[[ $(grep -m1 '^\[flash_attn_func' <<<"$again") == "$message" ]] || {
  echo "reproduced a different failure:"; echo "$message"; grep -m1 '^\[flash_attn_func' <<<"$again"; exit 1; }

case_file=first/flash_attn_func.Accuracy_$mutant.case.json
"$attnconf" replay "$case_file" --adapter $mutant && { echo "replay on the mutant passed"; exit 1; }
"$attnconf" replay "$case_file" --adapter cpu_flash
echo "reproduce, replay and the faithful kernel agree"
