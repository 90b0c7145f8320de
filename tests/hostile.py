"""Harness for the hostile-input matrix: run the ``mmbio`` CLI in a child process under resource limits and check
that bad input gets mmbio's promise: exit 2, one line on stderr naming the file, no traceback, no code run, bounded
time and memory.

Used by ``tests/test_hostile_*.py``. Each case is *generated* by code in the test (no binary blobs in the repo).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: Address-space cap of the child (bytes). Importing numpy, MuJoCo and the model compile fit in ≈ 1.5 GB of address
#: space; every hostile case asks for several GB, so a reader that allocates what a file declares fails here.
MEMORY_CAP = 3 << 30
#: Wall-clock cap per case (s); a well-formed small input takes ≤ 5 s on a 2-core CI machine (model compile).
TIME_CAP_S = 60.0
#: CPU-time cap per case (s): a hang burns CPU, a slow import does not.
CPU_CAP_S = 60

#: A marker file that code smuggled into a payload would create; tests assert that it never appears.
CANARY_NAME = "PWNED"


@dataclass
class CliResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    wall_s: float

    def describe(self) -> str:
        return f"argv={self.argv} rc={self.rc} wall={self.wall_s:.1f}s\nstdout:\n{self.stdout[-1500:]}\nstderr:\n{self.stderr[-3000:]}"


def _limits() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_CAP_S, CPU_CAP_S + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run(argv: list[str], cwd: Path, env: dict[str, str], stdin: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mmbio.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=TIME_CAP_S,
        preexec_fn=_limits,
        input=stdin,
    )


def run_cli(argv: list[str], cwd: Path, *, env: dict[str, str] | None = None, stdin: str | None = None) -> CliResult:
    """``python -m mmbio.cli *argv`` in ``cwd`` with :data:`MEMORY_CAP`, :data:`CPU_CAP_S` and :data:`TIME_CAP_S`."""
    e = dict(os.environ)
    e.update({"PYTHONFAULTHANDLER": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    e.pop("PYTHONWARNINGS", None)
    if env:
        e.update(env)
    t0 = time.perf_counter()
    try:
        p = _run(argv, cwd, e, stdin)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return CliResult(list(argv), -999, out, err + f"\n[harness] timed out after {TIME_CAP_S} s", TIME_CAP_S)
    return CliResult(list(argv), p.returncode, p.stdout, p.stderr, time.perf_counter() - t0)


def assert_bad_input(res: CliResult, *, names: str | None = None, mentions: str | None = None) -> None:
    """mmbio's promise for bad input: exit 2, exactly one stderr line ``mmbio: error: …`` (naming ``names`` when
    given and mentioning ``mentions`` when given, case-insensitive), no traceback, and nothing on stdout that looks
    like a result."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.rc == 2, f"expected exit 2\n{res.describe()}"
    assert "Traceback" not in res.stderr, res.describe()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}\n{res.describe()}"
    assert lines[0].startswith("mmbio: error: "), res.describe()
    assert lines[0].isprintable(), res.describe()
    if names is not None:
        assert names in lines[0], f"message does not name {names!r}\n{res.describe()}"
    if mentions is not None:
        assert mentions.lower() in lines[0].lower(), f"message does not mention {mentions!r}\n{res.describe()}"
    assert "wrote " not in res.stdout and "protocol " not in res.stdout, res.describe()


def assert_no_canary(root: Path) -> None:
    """No file named :data:`CANARY_NAME` anywhere under ``root`` (no code from a payload ran)."""
    hits = list(root.rglob(CANARY_NAME))
    assert not hits, f"a payload ran code: {hits}"
