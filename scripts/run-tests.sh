#!/usr/bin/env bash
# The tests: install (Debian packages, and the workers' .venv from PyPI), build, then run every
# ctest test. Tests labelled `heavy` run at full size
# locally and at reduced size when CI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/setup-venv.sh
scripts/build.sh
ctest --test-dir build -j "$(nproc)" --output-on-failure "$@"
