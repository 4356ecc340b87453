#!/usr/bin/env bash
# The policy benchmark, both sides: `srl-swe model bench` (prefill of a ~3,000-token chat prompt, greedy decoding at
# batch 1, sampled decoding at batch 8, a GRPO micro-batch with LoRA r=16: forward and backward, peak RSS per phase)
# and the same work in PyTorch (scripts/bench_torch.py: transformers + peft on the same Hugging Face folder and the
# same token ids), per dtype, with the same thread count; then one table with the ratios and both sides' versions.
#
#   scripts/bench_policy.sh [MODEL_DIR]     (default models/qwen2.5-coder-0.5b-instruct, see scripts/fetch_model.sh)
#
# Environment: THREADS (default 2), DTYPES (default "f32 bf16"), OUT (default target/bench-policy, JSON reports),
# VENV (default ~/.cache/srl-swe/bench-venv: made here with torch, transformers, peft from PyPI; several GB, as the
# default torch wheel pulls CUDA libraries), SRL_BIN (default: build target/release/srl-swe), NO_TORCH=1 (ours only),
# BENCH_ARGS (more `model bench` options for both sides, e.g. "--train-rollouts 8 --train-micro-batch 1
# --gradient-checkpointing"; the reference side reads them from the workload file).
# When the reference side cannot be installed or fails, it says so and prints our side alone. Not a test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
model="${1:-models/qwen2.5-coder-0.5b-instruct}"
threads="${THREADS:-2}"
dtypes="${DTYPES:-f32 bf16}"
out="${OUT:-target/bench-policy}"
venv="${VENV:-${SRL_MODEL_CACHE:-$HOME/.cache/srl-swe}/bench-venv}"
mkdir -p "$out"
[ -f "$model/config.json" ] || { echo "bench_policy.sh: no model folder at $model (run scripts/fetch_model.sh 0.5b)" >&2; exit 1; }

bin="${SRL_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release -q -p srl-cli
  bin=target/release/srl-swe
fi

ref=1
if [ -n "${NO_TORCH:-}" ]; then
  ref=0
elif ! "$venv/bin/python" -c 'import torch, transformers, peft' 2>/dev/null; then
  echo "making $venv: torch, transformers, peft, safetensors from PyPI (once; several GB)"
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q torch transformers peft safetensors; }; then
    echo "bench_policy.sh: the PyTorch side could not be installed; running srl-swe's side only" >&2
    ref=0
  fi
fi

reports=()
for d in $dtypes; do
  echo "== srl-swe, $d, $threads threads"
  RAYON_NUM_THREADS="$threads" "$bin" model bench --model "$model" --dtype "$d" \
    --json "$out/srl-swe-$d.json" --work "$out/work.json" ${BENCH_ARGS:-}
  reports+=("$out/srl-swe-$d.json")
  if [ "$ref" = 1 ]; then
    echo "== PyTorch, $d, $threads threads"
    if OMP_NUM_THREADS="$threads" "$venv/bin/python" scripts/bench_torch.py run --model "$model" --dtype "$d" \
         --work "$out/work.json" --threads "$threads" --json "$out/pytorch-$d.json"; then
      reports+=("$out/pytorch-$d.json")
    else
      echo "bench_policy.sh: the PyTorch side failed for $d" >&2
    fi
  fi
done
echo
echo "srl-swe $(grep -m1 '^version' Cargo.toml | cut -d'"' -f2), candle $(grep -A1 '^name = "candle-core"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p'); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(nproc) cores"
python3 scripts/bench_torch.py compare "${reports[@]}"
