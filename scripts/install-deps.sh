#!/usr/bin/env bash
# Installs everything attnconf needs to build and test, from Debian 12's packages.
set -euo pipefail
packages=(
  build-essential cmake git
  libeigen3-dev libyaml-cpp-dev librapidcheck-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev
  chromium  # renders the HTML report in a test
  python3 python3-venv  # the workers' virtual environment (scripts/setup-venv.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
