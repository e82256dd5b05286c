#!/usr/bin/env bash
# The release workflow from the README: run, report, diff. A planted regression (a mutant compared
# with the clean kernel) shows up as newly failing with its reproduction line, and diff exits 1.
# Usage: regression_diff_test.sh ATTNCONF WORKDIR
set -euo pipefail
attnconf=$1
work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work"
quick=(--api flash_attn_func --cases 20 --error-cases 3 --signature-seqlen 129)

"$attnconf" run --adapter cpu_flash "${quick[@]}" --results base.json > base.log
"$attnconf" run --adapter cpu_flash_mutant_causal_top_left "${quick[@]}" --results new.json > new.log && {
  echo "the mutant run should fail"; exit 1; }

"$attnconf" diff base.json base.json > same.md
grep -q '^verdict: no regression$' same.md

status=0
"$attnconf" diff base.json new.json --output diff.md > diff.out || status=$?
[[ $status == 1 ]] || { echo "diff exited $status, expected 1"; cat diff.out; exit 1; }
grep -q '^verdict: REGRESSED$' diff.md
grep -Eq '^## Newly failing \([0-9]+\)$' diff.md
grep -q 'flash_attn_func.Accuracy on cpu_flash_mutant_causal_top_left (FAIL)' diff.md
grep -q 'attnconf replay attnconf-failures/flash_attn_func.Accuracy_cpu_flash_mutant_causal_top_left.case.json' diff.md

"$attnconf" report new.json --markdown report.md --html report.html > /dev/null
grep -q '| flash_attn_func | cpu_flash_mutant_causal_top_left | FAIL |' report.md
echo "run, report and diff agree: the planted regression gates"
