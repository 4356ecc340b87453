#!/usr/bin/env python3
"""Writes pairs.jsonl: string pairs with CPython's difflib.SequenceMatcher(None, a, b).ratio().

Each line is one pair. Synthetic pairs carry their strings ("a", "b"). Pairs built from the real trajectories in
../shared/data/trajectories carry references instead of text (that data is not copied into the repository):
{"a_ref": {"file": ..., "msg": i}, "a_ops": [...], "b_ref": ..., "b_ops": [...]}, where the referenced string is
the function call of message i (from the first "<function=" to the end of the last "</function>") and ops
are edits applied in order over code points: ["d", pos, n] deletes n, ["i", pos, s] inserts s, ["r", pos, s]
replaces one code point with s. "bits" is the ratio's IEEE-754 bit pattern (exact), "ratio" its repr.

Usage: python3 tests/difflib/make_fixture.py [--shared ../shared/data/trajectories] [--out tests/difflib/pairs.jsonl]
The Rust test (crates/srl-reward/tests/parity.rs) checks every line, and recomputes them with python3 when present.
"""

import argparse
import difflib
import glob
import json
import os
import random
import struct


def bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def call_of(text: str):
    i = text.find("<function=")
    j = text.rfind("</function>")
    if i < 0 or j < i:
        return None
    return text[i : j + len("</function>")]


def apply_ops(s: str, ops) -> str:
    cps = list(s)
    for op, pos, arg in ops:
        if op == "d":
            del cps[pos : pos + arg]
        elif op == "i":
            cps[pos:pos] = list(arg)
        elif op == "r":
            cps[pos : pos + 1] = list(arg)
    return "".join(cps)


def random_ops(rng: random.Random, s: str, n: int):
    ops = []
    length = len(s)
    for _ in range(n):
        kind = rng.choice("dir")
        if kind == "i" or length == 0:
            pos = rng.randint(0, length)
            text = rng.choice(["x", " ", "\n", "foo", "/testbed/", "é", "    ", "</parameter>", "self."])
            ops.append(["i", pos, text])
            length += len(text)
        elif kind == "d":
            pos = rng.randrange(length)
            k = rng.randint(1, min(12, length - pos))
            ops.append(["d", pos, k])
            length -= k
        else:
            pos = rng.randrange(length)
            text = rng.choice(["a", "Z", "_", "1", "ß"])
            ops.append(["r", pos, text])
            length += len(text) - 1
    return ops


def rand_str(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--shared", default=os.path.join(here, "..", "..", "..", "shared", "data", "trajectories"))
    ap.add_argument("--out", default=os.path.join(here, "pairs.jsonl"))
    ap.add_argument("--seed", type=int, default=20251121)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = []

    def emit(kind, a, b, extra):
        r = difflib.SequenceMatcher(None, a, b).ratio()
        rec = {"kind": kind, **extra, "ratio": repr(r), "bits": bits(r)}
        out.append(rec)

    # Real action strings from the SWE-smith XML trajectories, referenced by file and message index.
    real = []
    for path in sorted(glob.glob(os.path.join(args.shared, "swe-smith-xml", "*.json"))):
        rel = os.path.relpath(path, args.shared)
        with open(path, encoding="utf-8") as f:
            msgs = json.load(f)["messages"]
        for i, m in enumerate(msgs):
            if m["role"] == "assistant" and call_of(m["content"]):
                real.append(({"file": rel, "msg": i}, call_of(m["content"])))
    if not real:
        raise SystemExit(f"no trajectories under {args.shared}")
    for _ in range(700):
        (ra, a), (rb, b) = rng.choice(real), rng.choice(real)
        emit("real", a, b, {"a_ref": ra, "a_ops": [], "b_ref": rb, "b_ops": []})
    for _ in range(700):
        ra, a = rng.choice(real)
        ops = random_ops(rng, a, rng.randint(1, 8))
        emit("real_mutated", apply_ops(a, ops), a, {"a_ref": ra, "a_ops": ops, "b_ref": ra, "b_ops": []})

    def lit(kind, a, b):
        emit(kind, a, b, {"a": a, "b": b})

    # Random strings over small and large alphabets.
    for _ in range(400):
        lit("small_alphabet", rand_str(rng, "ab", 0, 60), rand_str(rng, "ab", 0, 60))
    for _ in range(300):
        lit("small_alphabet_long", rand_str(rng, "abc \n", 0, 400), rand_str(rng, "abc \n", 0, 400))
    large = [chr(c) for c in range(32, 127)] + ["é", "ü", "中", "文", "😀", "\u0301", "\t", "\n"]
    for _ in range(300):
        lit("large_alphabet", rand_str(rng, large, 0, 300), rand_str(rng, large, 0, 300))
    # Lengths around 200, where autojunk starts: popular elements in b.
    for _ in range(400):
        n = rng.randint(195, 205)
        alpha = rng.choice(["ab", "abc", "aab", "abcdefgh", "a b\n"])
        b = rand_str(rng, alpha, n, n)
        a = apply_ops(b, random_ops(rng, b, rng.randint(0, 10))) if rng.random() < 0.6 else rand_str(rng, alpha, 150, 250)
        lit("autojunk_boundary", a, b)
    # Unicode: astral characters, combining marks, CJK.
    uni = ["😀", "🎉", "e", "\u0301", "中", "文", "ß", "Ω", " ", "a"]
    for _ in range(250):
        lit("unicode", rand_str(rng, uni, 0, 80), rand_str(rng, uni, 0, 80))
    # Empty strings.
    for s in ["", "a", "abc", "😀", " " * 250]:
        lit("empty", "", s)
        lit("empty", s, "")
    # Action-like strings from templates, mutated.
    templates = [
        "<function=bash>\n<parameter=command>cd /testbed && python -m pytest -q tests/test_{m}.py</parameter>\n</function>",
        "<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>/testbed/{m}/core.py</parameter>\n<parameter=view_range>[{n}, {k}]</parameter>\n</function>",
        "<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n<parameter=path>/testbed/{m}.py</parameter>\n<parameter=old_str>def {m}(x):\n    return x + {n}</parameter>\n<parameter=new_str>def {m}(x):\n    if x is None:\n        return {k}\n    return x + {n}</parameter>\n</function>",
        "<function=submit>\n</function>",
    ]
    for _ in range(300):
        t = rng.choice(templates)
        b = t.format(m=rng.choice(["parser", "dates", "cli", "semver"]), n=rng.randint(1, 300), k=rng.randint(1, 300))
        a = apply_ops(b, random_ops(rng, b, rng.randint(0, 6)))
        lit("action_template", a, b)

    with open(args.out, "w", encoding="utf-8") as f:
        for rec in out:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} pairs to {args.out}")


if __name__ == "__main__":
    main()
