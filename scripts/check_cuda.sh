#!/usr/bin/env bash
# Compiles the GPU path without a GPU: `cargo check --features cuda` of the CLI, with nvcc from Debian's non-free
# `nvidia-cuda-toolkit` (installed here when missing and running as root), so that the CUDA build cannot rot unseen.
# candle's kernels are compiled to PTX by nvcc during the check; with no GPU to ask, the compute capability is set
# explicitly (CUDA_COMPUTE_CAP, default 80: A100-class, the first with bf16 tensor cores).
#
#   scripts/check_cuda.sh            (CI runs it; CARGO_TARGET_DIR is honoured; the check's artifacts go to
#                                     target/cuda-check unless CARGO_TARGET_DIR is set)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvcc >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "check_cuda.sh: nvcc is missing; install Debian's nvidia-cuda-toolkit (non-free) or run as root" >&2
    exit 1
  fi
  # Debian's non-free component, added for this install only.
  src=/etc/apt/sources.list.d/srl-swe-non-free.sources
  . /etc/os-release
  cat > "$src" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: ${VERSION_CODENAME}
Components: non-free non-free-firmware contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  echo "installing nvidia-cuda-toolkit from Debian ${VERSION_CODENAME} non-free (apt-get; a few minutes)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit >/dev/null
  apt-get clean # the downloaded .debs (gigabytes) serve nothing once installed
fi
nvcc --version | tail -2

export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/cuda-check}"
cargo check --locked -p srl-cli --features cuda
echo "cuda check passed (compute capability $CUDA_COMPUTE_CAP)"
