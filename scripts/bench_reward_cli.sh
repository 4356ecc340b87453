#!/usr/bin/env bash
# `srl-swe reward similarity` against CPython's difflib (`SequenceMatcher(None, a, b).ratio()`), whole processes
# (start-up, JSON in, scoring, JSON out), on pairs made from the shared trajectories' canonical actions
# (`srl-swe data import ../shared/data/trajectories`: 12 runs, 296 actions). Prints the corpus (pairs, mean and
# longest characters a pair, counted as len(a) + len(b) in code points), the median wall time of each side over
# N alternating runs (default 10), and checks that every output value is equal.
#
# Corpora (CORPUS=..., deterministic: they depend only on the shared data):
#   issue (default): shaped like issue 13's held-out corpus (4,506 pairs, mean 1,030 characters, up to 19,000);
#     here 4,532 pairs, mean 1,023, longest 18,316:
#     * each action against each of the next 13 actions of its run (2,770 pairs: a wrong guess from the same run);
#     * each action against the action at the same step of every other run that has that step (1,125 pairs);
#     * windows of w = 2, 4, 8 and 16 consecutive actions of a run (joined by a newline, as a multi-call
#       completion), each against the next non-overlapping window of the same width (637 pairs: the long ones).
#   next14: the earlier corpus (3,204 pairs): each action against the next 14 of its run, and against itself
#     with a line inserted in the middle.
# Run from the repository root after `cargo build --release -p srl-cli`. KEEP=1 keeps the work folder.
set -euo pipefail
N=${1:-10}
CORPUS=${CORPUS:-issue}
BIN=${SRL_BIN:-target/release/srl-swe}
DATA=${SRL_SHARED_DATA:-../shared/data}/trajectories
work=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then echo "work folder: $work"; else trap 'rm -rf "$work"' EXIT; fi
"$BIN" data import "$DATA" --skip-invalid -o "$work/all.jsonl" >/dev/null 2>&1
python3 - "$work" "$CORPUS" <<'PY'
import json, sys
work, corpus = sys.argv[1], sys.argv[2]
with open(f"{work}/all.jsonl") as f:
    runs = [[s["action"] for s in json.loads(line).get("steps", [])] for line in f]
pairs = []
if corpus == "issue":
    for calls in runs:
        for i, b in enumerate(calls):
            for a in calls[i + 1:i + 14]:
                pairs.append((a, b))
    for r, calls in enumerate(runs):
        for s, a in enumerate(calls):
            for other in runs[r + 1:]:
                if s < len(other):
                    pairs.append((a, other[s]))
    for w in (2, 4, 8, 16):
        for calls in runs:
            wins = ["\n".join(calls[i:i + w]) for i in range(len(calls) - w + 1)]
            for i in range(len(wins) - w):
                pairs.append((wins[i + w], wins[i]))
elif corpus == "next14":
    for calls in runs:
        for i, a in enumerate(calls):
            for b in calls[i + 1:i + 15]:
                pairs.append((b, a))
            mid = len(a) // 2
            pairs.append((a[:mid] + "x = 1\n" + a[mid:], a))
else:
    sys.exit(f"unknown CORPUS={corpus} (issue or next14)")
with open(f"{work}/pairs.jsonl", "w") as out:
    for a, b in pairs:
        out.write(json.dumps({"a": a, "b": b}) + "\n")
sizes = [len(a) + len(b) for a, b in pairs]
print(f"corpus {corpus}: {len(pairs)} pairs, mean {sum(sizes) / len(sizes):.0f} characters a pair, longest {max(sizes)}")
with open(f"{work}/cpython_ratio.py", "w") as f:
    f.write("import sys, json, difflib\n"
            "with open(sys.argv[1]) as f, open(sys.argv[2], 'w') as o:\n"
            "    for line in f:\n"
            "        p = json.loads(line)\n"
            "        o.write(json.dumps({'ratio': difflib.SequenceMatcher(None, p['a'], p['b']).ratio()}) + '\\n')\n")
PY
echo "$(python3 --version); $(nproc) cores"
ms() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1; echo $(( ($(date +%s%N) - s) / 1000000 )); }
ours=(); theirs=()
for _ in $(seq "$N"); do
  ours+=("$(ms "$BIN" reward similarity -i "$work/pairs.jsonl" -o "$work/ours.jsonl")")
  theirs+=("$(ms python3 "$work/cpython_ratio.py" "$work/pairs.jsonl" "$work/difflib.jsonl")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
a=$(median "${ours[@]}"); b=$(median "${theirs[@]}")
echo "srl-swe runs (ms): ${ours[*]}"
echo "difflib runs (ms): ${theirs[*]}"
python3 -c "
import json, sys
x = [json.loads(l)['ratio'] for l in open('$work/ours.jsonl')]
y = [json.loads(l)['ratio'] for l in open('$work/difflib.jsonl')]
assert len(x) == len(y) and x == y, 'outputs differ'
print(f'srl-swe {$a} ms, difflib {$b} ms (medians of $N): {$b / max($a, 1):.1f}x; all {len(x)} outputs equal')
"
