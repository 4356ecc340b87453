#!/usr/bin/env python3
"""Assemble ``tasks/bundled.jsonl`` from the task folders.

Each ``tasks/<name>/`` holds ``repo/`` (the base commit's files),
``gold.patch``, ``test.patch``, ``problem_statement.md`` and ``task.json``
(instance id, repo, created_at, difficulty, FAIL_TO_PASS, PASS_TO_PASS as
plain lists). This script computes ``base_commit`` with the make_base recipe
and writes one SWE-bench row per task, with the test lists JSON-encoded as in
the published dataset.

    python tasks/tools/build_jsonl.py            # rewrite tasks/bundled.jsonl
    python tasks/tools/build_jsonl.py --derive   # first recompute FAIL_TO_PASS/PASS_TO_PASS with pytest
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_base import make_base  # noqa: E402

TASKS = Path(__file__).resolve().parent.parent


def task_dirs() -> list[Path]:
    return sorted(p.parent for p in TASKS.glob("*/task.json"))


def derive_tests(task_dir: Path) -> tuple[list[str], list[str]]:
    """Run the touched test files at base+test_patch and at base+test_patch+gold; return (F2P, P2P)."""
    from check_tasks import apply_patch, run_pytest, test_files

    test_patch = (task_dir / "test.patch").read_text()
    files = test_files(test_patch)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        make_base(task_dir, root)
        apply_patch(root, test_patch)
        before, _, _ = run_pytest(root, files)
        apply_patch(root, (task_dir / "gold.patch").read_text())
        after, out, _ = run_pytest(root, files)
    failing = [t for t, s in after.items() if s != "PASSED"]
    if failing:
        raise SystemExit(f"{task_dir.name}: tests fail with the gold patch: {failing}\n{out[-3000:]}")
    f2p = [t for t in after if before.get(t) != "PASSED"]
    p2p = [t for t in after if before.get(t) == "PASSED"]
    return f2p, p2p


def row(task_dir: Path) -> dict:
    meta = json.loads((task_dir / "task.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        base = make_base(task_dir, Path(tmp) / "repo")
    return {
        "repo": meta["repo"],
        "instance_id": meta["instance_id"],
        "base_commit": base,
        "patch": (task_dir / "gold.patch").read_text(),
        "test_patch": (task_dir / "test.patch").read_text(),
        "problem_statement": (task_dir / "problem_statement.md").read_text(),
        "hints_text": "",
        "created_at": meta["created_at"],
        "version": meta.get("version", "1.0"),
        "FAIL_TO_PASS": json.dumps(meta["FAIL_TO_PASS"]),
        "PASS_TO_PASS": json.dumps(meta["PASS_TO_PASS"]),
        "environment_setup_commit": base,
        "difficulty": meta.get("difficulty", "<15 min fix"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--derive", action="store_true", help="recompute the test lists in each task.json first")
    ap.add_argument("--out", type=Path, default=TASKS / "bundled.jsonl")
    args = ap.parse_args(argv)
    rows = []
    for task_dir in task_dirs():
        if args.derive:
            meta_path = task_dir / "task.json"
            meta = json.loads(meta_path.read_text())
            meta["FAIL_TO_PASS"], meta["PASS_TO_PASS"] = derive_tests(task_dir)
            meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        rows.append(row(task_dir))
        print(f"{rows[-1]['instance_id']:<24} {rows[-1]['base_commit']}")
    with args.out.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} tasks to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
