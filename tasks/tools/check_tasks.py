#!/usr/bin/env python3
"""Check every bundled task end to end on the host (no Docker needed).

For each row of ``tasks/bundled.jsonl``:

1. the task folder is clean (no caches, symlinks, executable bits or binary
   files) and its ``gold.patch``/``test.patch``/``problem_statement.md``
   match the row; the test lists are JSON-encoded strings;
2. the base commit built with the make_base recipe has the row's hash;
3. with the test patch applied, FAIL_TO_PASS tests fail and PASS_TO_PASS
   tests pass (``pytest -rA <files touched by the test patch>``);
4. with the gold patch applied too, all of them pass;
5. on a fresh copy, the scripted solution (``solution.json``) is replayed
   naively: ``/testbed`` is mapped to the copy, bash commands run in a shell,
   the editor commands are implemented here (each ``str_replace`` needs its
   ``old_str`` exactly once); then the test patch is applied and all the
   tests must pass.

Prints a table and exits 1 if anything failed. Needs git and pytest.

    python tasks/tools/check_tasks.py [INSTANCE_ID ...] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_base import git, make_base  # noqa: E402

TASKS = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUTF8="1")
ROW_KEYS = [
    "repo", "instance_id", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
    "created_at", "version", "FAIL_TO_PASS", "PASS_TO_PASS", "environment_setup_commit", "difficulty",
]
_RESULT = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)")
_CALL = re.compile(r"^<function=([A-Za-z_][A-Za-z0-9_]*)>\n(.*)</function>$", re.S)
_PARAM = re.compile(r"<parameter=([A-Za-z_][A-Za-z0-9_]*)>(.*?)</parameter>\n?", re.S)


class CheckFailed(Exception):
    pass


# --- helpers shared with build_jsonl.py -----------------------------------------------------------
def test_files(test_patch: str) -> list[str]:
    """The files a patch touches, in order (the ``b/`` side of each ``diff --git``)."""
    return list(dict.fromkeys(re.findall(r"^diff --git a/\S+ b/(\S+)$", test_patch, re.M)))


def apply_patch(root: Path, patch: str) -> None:
    r = subprocess.run(["git", "apply", "-"], cwd=root, input=patch, text=True, capture_output=True)
    if r.returncode:
        raise CheckFailed(f"git apply failed: {r.stderr.strip()}")


def run_pytest(root: Path, files: list[str]) -> tuple[dict[str, str], str, float]:
    """Run ``pytest -rA FILES`` in ``root``; return ({test id: outcome}, output, seconds).

    ``-P`` keeps the current directory off ``sys.path``, like the ``pytest`` script in the container.
    """
    start = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-rA", "-p", "no:cacheprovider", *files],
        cwd=root, env=ENV, capture_output=True, text=True, timeout=600,
    )
    seconds = time.monotonic() - start
    results: dict[str, str] = {}
    for line in r.stdout.splitlines():
        m = _RESULT.match(line)
        if m:
            results.setdefault(m[2], m[1])
    return results, r.stdout + r.stderr, seconds


def parse_action(action: str) -> tuple[str, dict[str, str]]:
    m = _CALL.match(action)
    if not m:
        raise CheckFailed(f"not a canonical function call: {action[:80]!r}")
    body = m[2]
    params = {k: v.strip() for k, v in _PARAM.findall(body)}
    if _PARAM.sub("", body).strip():
        raise CheckFailed(f"stray text in call: {action[:80]!r}")
    return m[1], params


# --- checks -----------------------------------------------------------------------------------------
def check_folder(task_dir: Path, row: dict) -> None:
    for path in (task_dir / "repo").rglob("*"):
        rel = path.relative_to(task_dir)
        if path.is_symlink():
            raise CheckFailed(f"symlink {rel}")
        if path.name in ("__pycache__", ".pytest_cache", ".git") or path.suffix == ".pyc":
            raise CheckFailed(f"{rel} must not be shipped")
        if path.is_file():
            if path.stat().st_mode & 0o111:
                raise CheckFailed(f"{rel} is executable (must be 100644)")
            if b"\0" in path.read_bytes():
                raise CheckFailed(f"{rel} is binary")
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        raise CheckFailed(f"row lacks {missing}")
    for key, name in [("patch", "gold.patch"), ("test_patch", "test.patch"), ("problem_statement", "problem_statement.md")]:
        if (task_dir / name).read_text() != row[key]:
            raise CheckFailed(f"{name} differs from the row's {key}")
    for key in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        if not isinstance(row[key], str) or not isinstance(json.loads(row[key]), list):
            raise CheckFailed(f"{key} must be a JSON-encoded list in a string")
    if row["environment_setup_commit"] != row["base_commit"]:
        raise CheckFailed("environment_setup_commit != base_commit")
    is_test = lambda p: p.startswith("tests/") or Path(p).name.startswith("test_")  # noqa: E731
    if not all(is_test(p) for p in test_files(row["test_patch"])):
        raise CheckFailed("test_patch touches non-test files")
    if any(is_test(p) for p in test_files(row["patch"])):
        raise CheckFailed("the gold patch touches test files")


def expect(results: dict[str, str], tests: list[str], outcome: bool, what: str, output: str) -> None:
    bad = [t for t in tests if (results.get(t) == "PASSED") != outcome]
    missing = [t for t in tests if t not in results]
    if missing:
        raise CheckFailed(f"{what}: not in pytest's -rA summary: {missing[:3]}\n{output[-2000:]}")
    if bad:
        raise CheckFailed(f"{what}: {len(bad)} tests {'do not pass' if outcome else 'pass'}, e.g. {bad[:3]}\n{output[-2000:]}")


class Replayer:
    """Runs a trajectory's actions on a host directory standing in for /testbed."""

    def __init__(self, root: Path, verbose: bool = False):
        self.root = root
        self.verbose = verbose
        self.history: dict[Path, list[str]] = {}

    def path(self, p: str) -> Path:
        if not p.startswith("/testbed"):
            raise CheckFailed(f"path outside /testbed: {p}")
        return Path(str(self.root) + p[len("/testbed"):])

    def run(self, name: str, params: dict[str, str]) -> str:
        if name == "bash":
            cmd = params["command"].replace("/testbed", str(self.root))
            r = subprocess.run(cmd, shell=True, executable="/bin/bash", cwd=self.root, env=ENV,
                               capture_output=True, text=True, timeout=300)
            return r.stdout + r.stderr + (f"\n[exit {r.returncode}]" if r.returncode else "")
        if name == "submit":
            return ""
        if name != "str_replace_editor":
            raise CheckFailed(f"unknown tool {name}")
        command, path = params["command"], self.path(params["path"])
        if command == "view":
            if path.is_dir():
                return "\n".join(sorted(str(p) for p in path.rglob("*") if ".git" not in p.parts))
            lines = path.read_text().splitlines()
            lo, hi = json.loads(params.get("view_range", "[1, -1]"))
            hi = len(lines) if hi == -1 else hi
            if not (1 <= lo <= hi <= len(lines)):
                raise CheckFailed(f"view_range {lo}-{hi} outside {path.name} ({len(lines)} lines)")
            return "\n".join(f"{i:6}\t{lines[i - 1]}" for i in range(lo, hi + 1))
        if command == "create":
            if path.exists():
                raise CheckFailed(f"create: {params['path']} exists")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(params["file_text"])
            return f"File created successfully at: {params['path']}"
        text = path.read_text()
        if command == "str_replace":
            count = text.count(params["old_str"])
            if count != 1:
                raise CheckFailed(f"str_replace in {params['path']}: old_str occurs {count} times")
            self.history.setdefault(path, []).append(text)
            path.write_text(text.replace(params["old_str"], params.get("new_str", "")))
            return f"The file {params['path']} has been edited."
        if command == "insert":
            lines = text.split("\n")
            n = int(params["insert_line"])
            if not 0 <= n <= len(lines):
                raise CheckFailed(f"insert_line {n} out of range")
            self.history.setdefault(path, []).append(text)
            path.write_text("\n".join(lines[:n] + params["new_str"].split("\n") + lines[n:]))
            return f"The file {params['path']} has been edited."
        if command == "undo_edit":
            if not self.history.get(path):
                raise CheckFailed(f"undo_edit: no edit to undo in {params['path']}")
            path.write_text(self.history[path].pop())
            return f"Last edit to {params['path']} undone successfully."
        raise CheckFailed(f"unknown editor command {command}")


def check_solution(task_dir: Path, row: dict, root: Path, verbose: bool) -> int:
    sol = json.loads((task_dir / "solution.json").read_text())
    if sol.get("instance_id") != row["instance_id"] or sol.get("task") != row["problem_statement"]:
        raise CheckFailed("solution.json: instance_id or task does not match the row")
    if sol.get("source_format") != "canonical":
        raise CheckFailed("solution.json: source_format must be canonical")
    steps = sol["steps"]
    if not 8 <= len(steps) <= 25:
        raise CheckFailed(f"solution has {len(steps)} actions (8 to 25 expected)")
    calls = [parse_action(s["action"]) for s in steps]
    if calls[-1][0] != "submit" or any(name == "submit" for name, _ in calls[:-1]):
        raise CheckFailed("the solution must end with exactly one submit")
    replayer = Replayer(root, verbose)
    for i, (step, (name, params)) in enumerate(zip(steps, calls), start=1):
        if not step.get("thought", "").strip():
            raise CheckFailed(f"step {i} has no thought")
        try:
            obs = replayer.run(name, params)
        except CheckFailed as exc:
            raise CheckFailed(f"step {i}: {exc}") from None
        if verbose:
            print(f"--- step {i}: {name} {params.get('command', '')[:70]!r}\n{obs.rstrip()[:1500]}")
    changed = git(["status", "--porcelain", "--untracked-files=all"], root).splitlines()
    touched_tests = [c for c in changed if c[3:].startswith("tests/")]
    if touched_tests:
        raise CheckFailed(f"the solution edits test files: {touched_tests}")
    if not changed:
        raise CheckFailed("the solution changes nothing")
    leftovers = [c[3:] for c in changed if c.startswith("??")]
    if leftovers:
        raise CheckFailed(f"the solution leaves scratch files behind: {leftovers}")
    return len(steps)


def check_task(row: dict, task_dir: Path, verbose: bool, status: dict) -> None:
    """Run all checks of one row, recording progress in ``status``; raises CheckFailed."""
    f2p, p2p = json.loads(row["FAIL_TO_PASS"]), json.loads(row["PASS_TO_PASS"])
    files = test_files(row["test_patch"])
    check_folder(task_dir, row)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "testbed"
        base = make_base(task_dir, root)
        if base != row["base_commit"]:
            raise CheckFailed(f"base commit {base} != {row['base_commit']}")
        status["base"] = "ok"
        pristine = Path(tmp) / "pristine"
        shutil.copytree(root, pristine, symlinks=True)

        apply_patch(root, row["test_patch"])
        results, out, _ = run_pytest(root, files)
        expect(results, f2p, False, "FAIL_TO_PASS at base", out)
        status["f2p@base"] = f"fail {len(f2p)}"
        expect(results, p2p, True, "PASS_TO_PASS at base", out)
        status["p2p@base"] = f"pass {len(p2p)}"

        apply_patch(root, row["patch"])
        results, out, seconds = run_pytest(root, files)
        expect(results, f2p + p2p, True, "with the gold patch", out)
        status["gold"] = "ok"
        status["time"] = f"{seconds:.1f}s"

        n = check_solution(task_dir, row, pristine, verbose)
        apply_patch(pristine, row["test_patch"])
        results, out, _ = run_pytest(pristine, files)
        expect(results, f2p + p2p, True, "with the solution's edits", out)
        status["solution"] = f"ok ({n} steps)"


def find_task_dirs() -> dict[str, Path]:
    dirs = {}
    for meta in TASKS.glob("*/task.json"):
        dirs[json.loads(meta.read_text())["instance_id"]] = meta.parent
    return dirs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("instances", nargs="*", help="only these instance ids")
    ap.add_argument("--jsonl", type=Path, default=TASKS / "bundled.jsonl")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each solution step's output")
    args = ap.parse_args(argv)

    rows = [json.loads(line) for line in args.jsonl.read_text().splitlines() if line.strip()]
    dirs = find_task_dirs()
    ids = [r["instance_id"] for r in rows]
    problems = []
    if len(set(ids)) != len(ids):
        problems.append("duplicate instance ids in bundled.jsonl")
    unlisted = sorted(set(dirs) - set(ids))
    if unlisted:
        problems.append(f"task folders not in bundled.jsonl: {unlisted}")

    header = f"{'instance_id':<24} {'base':<5} {'f2p@base':<9} {'p2p@base':<9} {'gold':<5} {'solution':<14} {'tests':>6}  result"
    print(header)
    print("-" * len(header))
    failed = 0
    for row in rows:
        if args.instances and row["instance_id"] not in args.instances:
            continue
        status = {"base": "-", "f2p@base": "-", "p2p@base": "-", "gold": "-", "solution": "-", "time": "-"}
        error = ""
        try:
            task_dir = dirs.get(row["instance_id"])
            if task_dir is None:
                raise CheckFailed("no tasks/<name>/task.json with this instance id")
            check_task(row, task_dir, args.verbose, status)
        except (CheckFailed, subprocess.SubprocessError, OSError, KeyError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, CheckFailed) else str(exc)
            failed += 1
        print(
            f"{row['instance_id']:<24} {status['base']:<5} {status['f2p@base']:<9} {status['p2p@base']:<9} "
            f"{status['gold']:<5} {status['solution']:<14} {status['time']:>6}  {'FAIL' if error else 'ok'}"
        )
        if error:
            print("    " + error.replace("\n", "\n    "))
    for p in problems:
        print("ERROR:", p)
    total = len([r for r in rows if not args.instances or r["instance_id"] in args.instances])
    print(f"\n{total - failed}/{total} tasks ok (pytest {_pytest_version()})")
    return 1 if failed or problems else 0


def _pytest_version() -> str:
    try:
        import pytest

        return pytest.__version__
    except ImportError:
        return "not installed"


if __name__ == "__main__":
    sys.exit(main())
