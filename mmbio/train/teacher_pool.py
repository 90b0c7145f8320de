"""Distillation teachers, one per world, labelling in parallel processes.

The teacher's quadratic programs take 150–350 ms per label on one core (the muscles-only receding-horizon
teacher, ``benchmarks/RESULTS.md``), so labelling is what a distillation's wall time is made of. A
:class:`TeacherPool` holds one :class:`~mmbio.train.teacher.Teacher` per world; world ``i``'s teacher lives in
worker ``i mod workers`` for the whole run (its solvers keep their warm starts), and each call labels every
world asked for at once, one process per worker. With ``workers = 1`` the teachers live in this process.

A world's teacher sees the same calls in the same order whatever ``workers`` is, so a collection gives the same
samples with any number of workers, to floating-point rounding (memory is laid out differently; the walk
amplifies the rounding within an episode; checked in the tests). A worker that dies or fails is one
:class:`~mmbio.errors.MmbioError` naming it; the workers ignore Ctrl-C (the parent stops them).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from mmbio.errors import MmbioError

__all__ = ["TeacherPool"]

#: (world, reference time s, qpos (nq,), qvel (nv,), act (na,))
LabelAsk = tuple[int, float, np.ndarray, np.ndarray, np.ndarray]
#: (ctrl (nu,), qfrc (nv,), activation target (nu,))
Label = tuple[np.ndarray, np.ndarray, np.ndarray]

_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _build(args: tuple[Any, ...], worlds: Sequence[int]) -> dict[int, Any]:
    from mmbio.train.teacher import Teacher

    ckpt, model, substeps, duration_s, help_cost = args
    return {i: Teacher(ckpt, model, substeps, duration_s, help_cost=help_cost) for i in worlds}


def _label(teachers: dict[int, Any], asks: Sequence[LabelAsk]) -> list[Label]:
    out = []
    for i, t, q, v, a in asks:
        ctrl, qfrc, info = teachers[i].label(t, q, v, a)
        out.append((ctrl, qfrc, info["activation_target"]))
    return out


def _start(teachers: dict[int, Any], asks: Sequence[tuple[int, float, np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    return [teachers[i].start_activation(t, q, v) for i, t, q, v in asks]


def _serve(conn: Any) -> None:
    """A worker: builds its worlds' teachers, then answers ``label`` / ``start`` requests until ``close``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    teachers: dict[int, Any] = {}
    while True:
        try:
            what, payload = conn.recv()
        except EOFError:
            return
        if what == "close":
            return
        try:
            if what == "build":
                teachers = _build(*payload)
                conn.send(("ok", None))
            elif what == "label":
                conn.send(("ok", _label(teachers, payload)))
            elif what == "start":
                conn.send(("ok", _start(teachers, payload)))
            else:
                conn.send(("error", f"unknown request {what!r}"))
        except Exception as e:  # sent back to the parent as one line
            conn.send(("error", f"{type(e).__name__}: {e}"))


@contextmanager
def _one_thread_env() -> Iterator[None]:
    """Spawned workers inherit one BLAS/OpenMP thread each (the parallelism is the processes)."""
    old = {k: os.environ.get(k) for k in _ONE_THREAD}
    os.environ.update(dict.fromkeys(_ONE_THREAD, "1"))
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class TeacherPool:
    """``n`` teachers of checkpoint ``ckpt`` on ``model`` (see :class:`~mmbio.train.teacher.Teacher`), world ``i``'s
    in worker ``i mod workers`` (``workers`` is capped at ``n``; 1: in this process). Use as a context manager or
    call :meth:`close`."""

    def __init__(self, ckpt: Any, model: Any, substeps: int, duration_s: float, n: int, *, help_cost: float = 1.0,
                 workers: int = 1) -> None:  # fmt: skip
        if n < 1 or workers < 1:
            raise MmbioError(f"teacher pool: needs at least one world and one worker (got {n} and {workers})")
        self.n = int(n)
        self.workers = min(int(workers), self.n)
        self._fixed = (ckpt, model, int(substeps), float(duration_s))
        self.help_cost = float(help_cost)
        self._local: dict[int, Any] = {}
        self._procs: list[Any] = []
        self._conns: list[Any] = []
        if self.workers == 1:
            self._local = _build((*self._fixed, self.help_cost), range(self.n))
            return
        from mmbio.control.tracking_settings import TrackingSettings
        from mmbio.train.teacher import _root_correction

        # computed once here (tens of seconds when the checkpoint lacks it), not once per worker
        _root_correction(ckpt, ckpt.motion(), TrackingSettings.from_dict(ckpt.controller.get("settings", {})))
        ctx = mp.get_context("spawn")
        with _one_thread_env():
            for _ in range(self.workers):
                parent, child = ctx.Pipe()
                p = ctx.Process(target=_serve, args=(child,), daemon=True, name="mmbio-teacher")
                p.start()
                child.close()
                self._procs.append(p)
                self._conns.append(parent)
        try:
            self._broadcast_build()
        except BaseException:
            self.close()
            raise

    def _worlds_of(self, w: int) -> list[int]:
        return list(range(w, self.n, self.workers))

    def _broadcast_build(self) -> None:
        for w, c in enumerate(self._conns):
            self._send(w, c, ("build", ((*self._fixed, self.help_cost), self._worlds_of(w))))
        for w, c in enumerate(self._conns):
            self._recv(w, c)

    def rebuild(self, help_cost: float) -> None:
        """New teachers (fresh solvers) whose help costs ``help_cost`` times more (see the teacher)."""
        self.help_cost = float(help_cost)
        if self.workers == 1:
            self._local = _build((*self._fixed, self.help_cost), range(self.n))
        else:
            self._broadcast_build()

    def _send(self, w: int, conn: Any, msg: Any) -> None:
        try:
            conn.send(msg)
        except (BrokenPipeError, EOFError, OSError):
            raise self._died(w) from None

    def _recv(self, w: int, conn: Any) -> Any:
        try:
            status, value = conn.recv()
        except (EOFError, OSError, ConnectionResetError):
            raise self._died(w) from None
        if status != "ok":
            raise MmbioError(f"teacher worker {w + 1} of {self.workers}: {value}")
        return value

    def _died(self, w: int) -> MmbioError:
        p = self._procs[w]
        p.join(timeout=1.0)
        return MmbioError(f"teacher worker {w + 1} of {self.workers} died (exit code {p.exitcode}); "
                          "the distillation stops (continue with --resume)")  # fmt: skip

    def _spread(self, what: str, asks: Sequence[tuple[Any, ...]]) -> dict[int, Any]:
        if self.workers == 1:
            fn = _label if what == "label" else _start
            return {a[0]: r for a, r in zip(asks, fn(self._local, asks), strict=True)}
        parts = [[a for a in asks if a[0] % self.workers == w] for w in range(self.workers)]
        busy = [w for w in range(self.workers) if parts[w]]
        for w in busy:
            self._send(w, self._conns[w], (what, parts[w]))
        out: dict[int, Any] = {}
        for w in busy:
            out.update({a[0]: r for a, r in zip(parts[w], self._recv(w, self._conns[w]), strict=True)})
        return out

    def label(self, asks: Sequence[LabelAsk]) -> dict[int, Label]:
        """Each asked world's teacher action at its state: world → (ctrl, qfrc, activation target)."""
        return self._spread("label", asks)

    def start_activation(self, asks: Sequence[tuple[int, float, np.ndarray, np.ndarray]]) -> dict[int, np.ndarray]:
        """Each asked world's starting activations ``(na,)`` at (world, t, qpos, qvel); starts a new episode there."""
        return self._spread("start", asks)

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        for c in self._conns:
            try:
                c.send(("close", None))
            except (BrokenPipeError, EOFError, OSError):
                pass
        for p in self._procs:
            p.join(timeout=5.0)
            if p.is_alive():
                p.kill()
                p.join(timeout=5.0)
        for c in self._conns:
            c.close()
        self._procs, self._conns = [], []

    def __enter__(self) -> TeacherPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
