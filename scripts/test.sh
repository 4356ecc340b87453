#!/usr/bin/env bash
# The project's test command (README): installs what the tests need on a fresh machine, then runs every test.
# Docker integration tests need a running Docker daemon and debootstrap (to build the offline base image).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "installing ${need_apt[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing: ${need_apt[*]}; install them (apt-get install ${need_apt[*]}) or run as root" >&2
    exit 1
  fi
fi

cargo test --workspace --locked "$@"
