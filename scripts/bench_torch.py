#!/usr/bin/env python3
"""The reference side of `srl-swe model bench`: the same work in PyTorch (transformers + peft) on the same token ids.

  bench_torch.py run --model DIR --dtype f32|bf16 --work work.json --threads N --json out.json
  bench_torch.py compare OURS.json [TORCH.json] ...   (a table of both sides with ratios; needs no torch)

`work.json` is what `srl-swe model bench --work` writes. Phases, as on our side (crates/srl-policy/src/bench.rs):
prefill (the prompt's forward pass, logits of the last position only), greedy_b1 and sampled_b8 (a manual decoding
loop over the prefill's KV cache, repeated for the batch: one prefill, as ours), grpo_fwd and grpo_bwd (peft LoRA on
the same projections, logits of the completion positions only, f32 log-softmax, the same loss). Peak RSS per phase:
VmHWM after the phase, reset before it through /proc/self/clear_refs.
"""
import argparse
import json
import os
import platform
import sys
import time


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def phase(name, tokens, secs, rss):
    return {"name": name, "tokens": tokens, "secs": secs, "tokens_per_sec": tokens / max(secs, 1e-9),
            "peak_rss_bytes": rss}


def run(a):
    import torch
    import transformers
    import peft
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[a.dtype]
    with open(a.work) as f:
        work = json.load(f)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype)
    model.eval()
    prompt = torch.tensor([work["prompt"]])
    n_new, batch = work["decode_tokens"], work["decode_batch"]
    phases = []

    def decode(rows, greedy, seed):
        gen = torch.Generator().manual_seed(seed)
        with torch.inference_mode():
            t0 = time.perf_counter()
            out = model(prompt, use_cache=True, logits_to_keep=1)
            logits = out.logits[:, -1].float()
            prefill = time.perf_counter() - t0
            t0 = time.perf_counter()
            cache = out.past_key_values
            if rows > 1:
                cache.batch_repeat_interleave(rows)
                logits = logits.expand(rows, -1)
            ids = []
            for step in range(n_new):
                lsm = torch.log_softmax(logits, -1)
                if greedy:
                    tok = logits.argmax(-1)
                else:
                    tok = torch.multinomial(lsm.exp(), 1, generator=gen).squeeze(1)
                lsm.gather(-1, tok[:, None])
                ids.append(tok)
                if step + 1 == n_new:
                    break
                out = model(tok[:, None], past_key_values=cache, use_cache=True)
                logits = out.logits[:, -1].float()
            return torch.stack(ids, 1), prefill, time.perf_counter() - t0

    with torch.inference_mode():
        model(prompt[:, :64], logits_to_keep=1)  # warm-up
    reset_peak()
    ids, prefill, dec = decode(1, True, 0)
    rss = peak_rss()
    phases.append(phase("prefill", prompt.shape[1], prefill, rss))
    phases.append(phase("greedy_b1", n_new, dec, rss))
    greedy_ids = ids[0].tolist()
    reset_peak()
    _, _, dec = decode(batch, False, work["seed"])
    phases.append(phase("sampled_b8", n_new * batch, dec, peak_rss()))

    cfg = peft.LoraConfig(r=work["lora_r"], lora_alpha=work["lora_alpha"], lora_dropout=0.0,
                          target_modules=work["lora_targets"])
    if work.get("gradient_checkpointing"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    pm = peft.get_peft_model(model, cfg)
    pm.train()
    pairs = work["train_pairs"]
    p_len, c_len = len(pairs[0][0]), len(pairs[0][1])
    assert all(len(p) == p_len and len(c) == c_len for p, c in pairs), "the reference side needs equal lengths"
    ids = torch.tensor([p + c for p, c in pairs])
    targets = torch.tensor([c for _, c in pairs])
    adv = torch.tensor(work["advantages"])[:, None]
    mb = work.get("micro_batch") or len(pairs)
    reset_peak()
    fwd = bwd = 0.0
    rss_fwd = 0
    for s in range(0, len(pairs), mb):
        t0 = time.perf_counter()
        out = pm(input_ids=ids[s:s + mb, :-1], logits_to_keep=c_len)
        lp = torch.log_softmax(out.logits.float(), -1).gather(-1, targets[s:s + mb, :, None]).squeeze(-1)
        loss = -(lp * adv[s:s + mb]).sum() / targets.numel()
        fwd += time.perf_counter() - t0
        rss_fwd = max(rss_fwd, peak_rss() or 0)
        t0 = time.perf_counter()
        loss.backward()
        bwd += time.perf_counter() - t0
        del out, lp, loss
    tokens = sum(len(p) + len(c) for p, c in pairs)
    phases.append(phase("grpo_fwd", tokens, fwd, rss_fwd))
    phases.append(phase("grpo_bwd", tokens, bwd, peak_rss()))
    report = {
        "side": "pytorch",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                     "python": platform.python_version()},
        "model": a.model, "dtype": a.dtype, "threads": torch.get_num_threads(), "cpu": None,
        "prompt_tokens": prompt.shape[1], "greedy_ids": greedy_ids, "phases": phases,
    }
    for p in phases:
        print(f"{p['name']:<12} {p['tokens']:>8} {p['secs']:>9.2f} {p['tokens_per_sec']:>10.1f} "
              f"{(p['peak_rss_bytes'] or 0) / 1e6:>14.0f}", flush=True)
    with open(a.json, "w") as f:
        json.dump(report, f, indent=2)


def compare(paths):
    reports = []
    for p in paths:
        with open(p) as f:
            reports.append(json.load(f))
    by = {(r["side"], r["dtype"]): r for r in reports}
    dtypes = sorted({r["dtype"] for r in reports}, key=lambda d: (d != "f32", d))
    names = ["prefill", "greedy_b1", "sampled_b8", "grpo_fwd", "grpo_bwd"]
    for r in reports:
        v = ", ".join(f"{k} {x}" for k, x in r["versions"].items())
        print(f"{r['side']} {r['dtype']}: {v}; {r['threads']} threads; prompt {r['prompt_tokens']} tokens")
    print()
    print("| work | dtype | srl-swe tok/s | PyTorch tok/s | ratio | srl-swe peak RSS (GB) | PyTorch peak RSS (GB) |")
    print("|---|---|---|---|---|---|---|")
    for d in dtypes:
        ours, ref = by.get(("srl-swe", d)), by.get(("pytorch", d))
        for n in names:
            o = next((p for p in (ours or {}).get("phases", []) if p["name"] == n), None)
            t = next((p for p in (ref or {}).get("phases", []) if p["name"] == n), None)
            if not o and not t:
                continue
            fmt = lambda p: f"{p['tokens_per_sec']:.1f}" if p else "-"
            gb = lambda p: f"{p['peak_rss_bytes'] / 1e9:.2f}" if p and p.get("peak_rss_bytes") else "-"
            ratio = f"{o['tokens_per_sec'] / t['tokens_per_sec']:.2f}x" if o and t else "-"
            print(f"| {n} | {d} | {fmt(o)} | {fmt(t)} | {ratio} | {gb(o)} | {gb(t)} |")
        if ours and ref:
            a, b = ours.get("greedy_ids", []), ref.get("greedy_ids", [])
            same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            print(f"| greedy ids ({d}) | equal for the first {same} of {min(len(a), len(b))} tokens | | | | | |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--dtype", choices=["f32", "bf16"], default="f32")
    r.add_argument("--work", required=True)
    r.add_argument("--threads", type=int, default=os.cpu_count())
    r.add_argument("--json", required=True)
    c = sub.add_parser("compare")
    c.add_argument("reports", nargs="+")
    a = ap.parse_args()
    if a.cmd == "run":
        run(a)
    else:
        compare(a.reports)


if __name__ == "__main__":
    sys.exit(main())
