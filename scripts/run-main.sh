#!/usr/bin/env bash
# The main job: install, build, then check every spec against every in-tree adapter and print
# the verdict table (results in attnconf-results.json, shrunk failures in attnconf-failures/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/cli/attnconf run "$@"
