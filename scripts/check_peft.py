#!/usr/bin/env python3
"""Checks that a LoRA adapter written by srl-swe loads in Python PEFT on the same base and gives the same
log-probabilities as srl-swe's own model.

    python scripts/check_peft.py --base MODEL_DIR --adapter ADAPTER_DIR [--srl-swe PATH] [--prompt TEXT]

srl-swe generates greedily with the adapter (`model generate --json`: ids and the log-prob of each), then
transformers + peft load the base folder and the adapter, run prompt + those ids through the model in one pass,
and compare every log-prob (max abs difference <= --tol, default 1e-3) and every greedy choice. Needs torch,
transformers and peft (`python3 -m venv V && V/bin/pip install torch transformers peft`). Exits 0 when they agree.
"""
import argparse
import json
import os
import subprocess
import sys

import peft
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--srl-swe", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "srl-swe"))
    ap.add_argument("--prompt", default="Write a bash command that counts the Python files under /testbed.")
    ap.add_argument("--prefill", default="<think>\n")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--tol", type=float, default=1e-3)
    a = ap.parse_args()

    out = subprocess.run(
        [a.srl_swe, "model", "generate", "--model", a.base, "--adapter", a.adapter, "--prompt", a.prompt,
         "--prefill", a.prefill, "--max-new-tokens", str(a.new_tokens), "--temperature", "0", "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    completion = json.loads(out)[0]
    gen, srl_lp = completion["ids"], completion["logprobs"]

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tok = AutoTokenizer.from_pretrained(a.base)
    base = AutoModelForCausalLM.from_pretrained(a.base, dtype=torch.float32)
    model = peft.PeftModel.from_pretrained(base, a.adapter)
    model.eval()
    text = tok.apply_chat_template([{"role": "user", "content": a.prompt}], tokenize=False, add_generation_prompt=True)
    ids = tok(text + a.prefill, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([ids + gen])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    n = len(ids)
    ref = [float(logp[n - 1 + i, t]) for i, t in enumerate(gen)]
    argmax = [int(logp[n - 1 + i].argmax()) for i in range(len(gen))]
    diff = max(abs(x - y) for x, y in zip(ref, srl_lp))
    same_choice = argmax == gen
    print(json.dumps({
        "tokens": len(gen),
        "max_abs_logprob_diff": diff,
        "greedy_choices_equal": same_choice,
        "text": completion["text"],
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }, indent=1))
    if diff > a.tol or not same_choice:
        sys.exit(f"PEFT disagrees with srl-swe: max log-prob difference {diff}, greedy choices equal: {same_choice}")


if __name__ == "__main__":
    main()
