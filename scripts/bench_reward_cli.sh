#!/usr/bin/env bash
# `srl-swe reward similarity` against CPython's difflib, whole processes, on pairs made from the shared
# trajectories' canonical actions (each action against the next 14 of its run, and against itself with a line
# inserted). Prints the median wall time of each over N runs (default 10) and checks the outputs are equal.
# Run from the repository root after `cargo build --release -p srl-cli`.
set -euo pipefail
N=${1:-10}
BIN=${SRL_BIN:-target/release/srl-swe}
DATA=${SRL_SHARED_DATA:-../shared/data}/trajectories
work=$(mktemp -d)
# kept on failure: KEEP=1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
"$BIN" data import "$DATA" --skip-invalid -o "$work/all.jsonl" >/dev/null
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
with open(f"{work}/all.jsonl") as f, open(f"{work}/pairs.jsonl", "w") as out:
    for line in f:
        calls = [s["action"] for s in json.loads(line).get("steps", [])]
        for i, a in enumerate(calls):
            for b in calls[i + 1:i + 15]:
                out.write(json.dumps({"a": b, "b": a}) + "\n")
            mid = len(a) // 2
            out.write(json.dumps({"a": a[:mid] + "x = 1\n" + a[mid:], "b": a}) + "\n")
with open(f"{work}/cpython_ratio.py", "w") as f:
    f.write("import sys, json, difflib\n"
            "with open(sys.argv[1]) as f, open(sys.argv[2], 'w') as o:\n"
            "    for line in f:\n"
            "        p = json.loads(line)\n"
            "        o.write(json.dumps({'ratio': difflib.SequenceMatcher(None, p['a'], p['b']).ratio()}) + '\\n')\n")
PY
echo "$(wc -l < "$work/pairs.jsonl") pairs; $(python3 --version)"
ms() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1; echo $(( ($(date +%s%N) - s) / 1000000 )); }
ours=(); theirs=()
for _ in $(seq "$N"); do
  ours+=("$(ms "$BIN" reward similarity -i "$work/pairs.jsonl" -o "$work/ours.jsonl")")
  theirs+=("$(ms python3 "$work/cpython_ratio.py" "$work/pairs.jsonl" "$work/difflib.jsonl")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
a=$(median "${ours[@]}"); b=$(median "${theirs[@]}")
python3 -c "
import json, sys
x = [json.loads(l)['ratio'] for l in open('$work/ours.jsonl')]
y = [json.loads(l)['ratio'] for l in open('$work/difflib.jsonl')]
assert x == y, 'outputs differ'
print(f'srl-swe {$a} ms, difflib {$b} ms (medians of $N): {$b / max($a, 1):.0f}x; outputs equal')
"
