"""Where a result came from: the mmbio version and the git revision of the checkout it runs from."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """Short git revision of the checkout mmbio runs from (``-dirty`` with uncommitted changes to tracked
    files other than the example outputs in ``reports/``, which a rebuild rewrites one after another); ``None``
    for an installed package or when git is unavailable."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
        if rev.returncode != 0 or not rev.stdout.strip():
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
