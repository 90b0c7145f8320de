"""MuJoCo's warnings, kept by mmbio instead of landing in ``MUJOCO_LOG.TXT`` in the user's working folder.

MuJoCo's default warning handler prints to stdout and appends to ``MUJOCO_LOG.TXT`` in the current directory
(a diverging model in a user's project folder left such files behind). :func:`install` replaces it, once per
process, with a handler that keeps the last :data:`KEEP` messages in memory (thread-safe: MuJoCo may warn from
its rollout threads); :func:`drain` hands them to whoever reports on the run (notes of a rollout or a checkpoint
run).
"""

from __future__ import annotations

import collections
import threading

import mujoco

__all__ = ["KEEP", "drain", "install"]

KEEP = 200
_messages: collections.deque[str] = collections.deque(maxlen=KEEP)
_lock = threading.Lock()
_installed = False


def _on_warning(message: str) -> None:
    with _lock:
        _messages.append(str(message)[:500])


def install() -> None:
    """Route MuJoCo's warnings to this module (idempotent)."""
    global _installed
    if not _installed:
        mujoco.set_mju_user_warning(_on_warning)
        _installed = True


def drain() -> list[str]:
    """The warnings collected since the last call (oldest first), with repeats counted: ``'… (×12)'``."""
    with _lock:
        msgs = list(_messages)
        _messages.clear()
    counts = collections.Counter(msgs)
    return [m if counts[m] == 1 else f"{m} (x{counts[m]})" for m in dict.fromkeys(msgs)]
