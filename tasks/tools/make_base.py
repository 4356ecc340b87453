#!/usr/bin/env python3
"""Build the deterministic base commit of a bundled task and print its hash.

The recipe (reproduced byte for byte by the Rust sandbox with git2):

* every file under ``tasks/<name>/repo/`` is added (mode 100644, no symlinks);
* author = committer = ``srl-swe <tasks@srl-swe.invalid>``;
* author and committer time 2025-01-01T00:00:00Z (unix 1735689600, offset +0000);
* message ``srl-swe bundled task base\\n``, no parent.

Usage::

    python tasks/tools/make_base.py tasks/datekit            # prints the hash
    python tasks/tools/make_base.py tasks/datekit --into DIR # leaves the git repo in DIR
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

AUTHOR_NAME = "srl-swe"
AUTHOR_EMAIL = "tasks@srl-swe.invalid"
DATE = "1735689600 +0000"
MESSAGE = "srl-swe bundled task base"


def git_env() -> dict[str, str]:
    """The environment that pins identity and dates, isolated from user/system git config."""
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME=AUTHOR_NAME,
        GIT_AUTHOR_EMAIL=AUTHOR_EMAIL,
        GIT_AUTHOR_DATE=DATE,
        GIT_COMMITTER_NAME=AUTHOR_NAME,
        GIT_COMMITTER_EMAIL=AUTHOR_EMAIL,
        GIT_COMMITTER_DATE=DATE,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
    )
    return env


def git(args: list[str], cwd: Path) -> str:
    out = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "core.fileMode=true", *args],
        cwd=cwd,
        env=git_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def make_base(task_dir: Path, dest: Path) -> str:
    """Copy ``task_dir/repo`` into ``dest`` (which must not exist), commit it and return the hash."""
    src = task_dir / "repo"
    if not src.is_dir():
        raise SystemExit(f"{src} is not a directory")
    for path in src.rglob("*"):
        if path.name in ("__pycache__", ".pytest_cache", ".git"):
            raise SystemExit(f"{path} must not be in a task repo (remove it: the hash would change)")
    shutil.copytree(src, dest, symlinks=True)
    for path in dest.rglob("*"):
        if path.is_symlink():
            raise SystemExit(f"symlink not allowed in a task repo: {path}")
        if path.is_file():
            path.chmod(0o644)
    git(["init", "-q"], dest)
    git(["add", "-A"], dest)
    git(["commit", "-q", "-m", MESSAGE], dest)
    return git(["rev-parse", "HEAD"], dest).strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task_dir", type=Path, help="tasks/<name> (the folder holding repo/)")
    ap.add_argument("--into", type=Path, help="where to leave the repository (default: a temp dir, removed)")
    args = ap.parse_args(argv)
    if args.into:
        print(make_base(args.task_dir, args.into))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        print(make_base(args.task_dir, Path(tmp) / "repo"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
