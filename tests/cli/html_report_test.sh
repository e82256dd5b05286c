#!/usr/bin/env bash
# The HTML report in a real browser: headless Chromium loads it with no errors, and the rendered
# page shows the conformance matrix. Leaves report.png beside it for a person to look at.
# Usage: html_report_test.sh ATTNCONF WORKDIR
set -euo pipefail
attnconf=$1
work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work"
browser=$(command -v chromium || command -v chromium-browser) || { echo "chromium is not installed (scripts/install-deps.sh installs it)"; exit 1; }
flags=(--headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 --window-size=1400,1000)

# Three specs are enough for the page: a run of every spec is cli.run_quick's.
"$attnconf" run --adapter cpu_flash --adapter naive --cases 20 --error-cases 3 --signature-seqlen 129 \
  --api scaled_dot_product_attention --api flash_attn_varlen_func --api npu_fusion_attention_bnsd \
  --results results.json > run.log
"$attnconf" report results.json --markdown report.md --html report.html > /dev/null

timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$PWD/report.html" > dom.html 2> browser.log
grep -q '<table id="matrix">' dom.html
grep -q '<td>cpu_flash</td>' dom.html
grep -q '<td>naive</td>' dom.html
grep -q '<svg class="plot"' dom.html
if grep -E 'CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|Failed to load resource' browser.log; then
  echo "the page logged errors"; exit 1
fi
timeout 120 "$browser" "${flags[@]}" --screenshot="$PWD/report.png" "file://$PWD/report.html" 2>> browser.log
[[ -s report.png ]]
echo "report.html ($(stat -c %s report.html) bytes) renders the matrix; screenshot report.png"
