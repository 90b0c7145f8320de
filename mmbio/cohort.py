"""Cohort and sweep validation: ``mmbio validate A B C …`` (paths, a folder, a glob, a CSV manifest, or a training
run's folder) on a Dask cluster.

Each input is validated exactly as ``mmbio validate INPUT --output OUT/<name>`` would (the same code, called in a
Dask worker), into its own folder. Across inputs: ``cohort.csv`` (one row per input × metric, tidy),
``cohort.json`` (one record per input: status, exit code, error, wall time) and ``cohort.pdf``
(:mod:`mmbio.report.cohort_report`).

**Engine.** Dask's ``distributed`` (the ``cohort`` extra): a ``LocalCluster`` with one single-threaded worker
process per core by default (``--workers N``), or an existing cluster (``--scheduler ADDRESS``). The analysis never
imports it. Each input is one task; a task whose worker dies is resubmitted by the scheduler (its
``distributed.scheduler.allowed-failures``, default 3, then the input is an error row ``worker died``).

**Faults.** A bad input is an error row (exit 2 and its one-line message) and never stops the others. A rerun into
the same output folder skips every input whose folder already holds its finished results from the same input
(``mmbio-run.json``) and the same options (``cohort-options.json``, written once the input is validated), so a
killed cohort resumes with nothing lost; error rows and inputs whose options changed are validated again.

**Inputs.** Several paths; a folder (every ``.c3d``, ``.pkl``, ``.npz``, ``.mot`` and ``.sto`` in it, sorted; a
training run's folder, i.e. one holding ``checkpoint_<update>.pkl`` from ``mmbio train``, gives those checkpoints
in update order and the fidelity-over-training figure); a glob (quoted); or a CSV manifest (``.csv``) with a
column ``input`` and optional per-row columns :data:`MANIFEST_OPTIONS` (``mass``, ``reference``, ``grf``, ``emg``,
``static``, …; paths relative to the manifest) and ``name`` (the output sub-folder).
"""

from __future__ import annotations

import contextlib
import csv
import glob as _glob
import io
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbio.errors import MmbioError, printable

__all__ = ["CohortItem", "cohort_items", "is_cohort", "run_cohort", "validate_one"]

#: manifest column → ``mmbio validate`` flag (per-row options)
MANIFEST_OPTIONS: dict[str, str] = {
    "reference": "--reference",
    "emg_reference": "--emg-reference",
    "protocol": "--protocol",
    "mass": "--mass",
    "speed": "--speed",
    "grf": "--grf",
    "emg": "--emg",
    "activations": "--activations",
    "static": "--static",
    "motion": "--motion",
    "episode": "--episode",
}
#: columns whose values are file paths (relative to the manifest's folder)
PATH_COLUMNS = frozenset({"grf", "emg", "activations", "static", "motion"})
#: file kinds a folder contributes
FOLDER_SUFFIXES = (".c3d", ".pkl", ".npz", ".mot", ".sto")
#: bounds of a manifest (a larger cohort is split into several)
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_MANIFEST_ROWS = 100_000
_TRAIN_CKPT = re.compile(r"^checkpoint_(\d+)\.pkl$")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class CohortItem:
    """One input of a cohort: its path, output sub-folder name, extra ``mmbio validate`` arguments and, for a
    training run's checkpoint, its update number."""

    path: str
    name: str
    extra: tuple[str, ...] = ()
    update: int | None = None


@dataclass
class CohortResult:
    """Rows (one per input: name, input, status pass|fail|n/a|error, exit, error, wall_s, skipped, update) and the
    output folder."""

    rows: list[dict[str, Any]]
    out: Path
    training_run: bool = False
    files: list[Path] = field(default_factory=list)


def is_cohort(paths: Sequence[str]) -> bool:
    """Whether ``mmbio validate`` got a cohort: several paths, a glob, a ``.csv`` manifest, or a folder that is not
    a MuscleMimic checkpoint (a ``checkpoint_N`` folder with Orbax contents is one input)."""
    if len(paths) != 1:
        return True
    p = paths[0]
    if any(c in p for c in _GLOB_CHARS) and not Path(p).exists():
        return True
    if p.lower().endswith(".csv") and Path(p).is_file():
        return True
    if Path(p).is_dir():
        from mmbio.train.musclemimic import is_musclemimic_checkpoint

        if is_musclemimic_checkpoint(p) or Path(p).name.startswith("checkpoint_"):  # one (maybe broken) checkpoint
            return False
        try:  # a MuscleMimic run folder (checkpoint_K sub-folders): one checkpoint must be named (its own message)
            return not any(d.is_dir() and d.name.startswith("checkpoint_") for d in Path(p).iterdir())
        except OSError:
            return False
    return False


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}-{k + 1}")
    return out


def _folder_items(folder: Path) -> tuple[list[CohortItem], bool]:
    ckpts = sorted(
        ((int(m.group(1)), f) for f in folder.iterdir() if (m := _TRAIN_CKPT.match(f.name))), key=lambda x: x[0]
    )
    if ckpts:  # a training run: its checkpoints in update order
        return [CohortItem(str(f), f.stem, update=u) for u, f in ckpts], True
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in FOLDER_SUFFIXES)
    if not files:
        from mmbio.train.musclemimic import describe_folder

        raise MmbioError(f"{printable(folder)}: {describe_folder(folder)}; as a cohort it holds no inputs "
                         f"({', '.join(FOLDER_SUFFIXES)})")  # fmt: skip
    return [CohortItem(str(f), n) for f, n in zip(files, _unique([f.stem for f in files]), strict=True)], False


def _manifest_items(path: Path) -> list[CohortItem]:
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise MmbioError(f"{printable(path)}: a cohort manifest over {MAX_MANIFEST_BYTES // 2**20} MiB; split it")
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise MmbioError(f"{printable(path)}: cannot read the manifest ({printable(str(e), 200)})") from None
    if len(rows) > MAX_MANIFEST_ROWS:
        raise MmbioError(f"{printable(path)}: {len(rows)} rows; a cohort manifest holds at most {MAX_MANIFEST_ROWS}")
    if not rows or "input" not in (rows[0] or {}):
        raise MmbioError(f"{printable(path)}: a cohort manifest needs a header with a column 'input'")
    extra = next((i for i, r in enumerate(rows, start=2) if None in r), None)
    if extra is not None:
        raise MmbioError(f"{printable(path)}: line {extra} has more fields than the header")
    known = {"input", "name", *MANIFEST_OPTIONS}
    unknown = sorted(set(rows[0]) - known)
    if unknown:
        raise MmbioError(f"{printable(path)}: unknown manifest column(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(known))}")  # fmt: skip
    base = path.parent
    items, names = [], []
    for i, r in enumerate(rows, start=2):
        src = (r.get("input") or "").strip()
        if not src:
            raise MmbioError(f"{printable(path)}: line {i} has no input")
        extra: list[str] = []
        for col, flag in MANIFEST_OPTIONS.items():
            v = (r.get(col) or "").strip()
            if v:
                extra += [flag, str(base / v) if col in PATH_COLUMNS and not Path(v).is_absolute() else v]
        full = src if Path(src).is_absolute() else str(base / src)
        items.append((full, tuple(extra)))
        names.append((r.get("name") or "").strip() or Path(src).stem)
    return [CohortItem(p, n, e) for (p, e), n in zip(items, _unique(names), strict=True)]


def cohort_items(paths: Sequence[str]) -> tuple[list[CohortItem], bool]:
    """The inputs of a cohort (module docstring) and whether they are a training run's checkpoints."""
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return _folder_items(Path(paths[0]))
    if len(paths) == 1 and paths[0].lower().endswith(".csv") and Path(paths[0]).is_file():
        return _manifest_items(Path(paths[0])), False
    files: list[str] = []
    for p in paths:
        if any(c in p for c in _GLOB_CHARS) and not Path(p).exists():
            hits = sorted(_glob.glob(p, recursive=True))
            if not hits:
                raise MmbioError(f"{printable(p)}: the pattern matches no file")
            files += hits
        else:
            files.append(p)
    return [CohortItem(f, n) for f, n in zip(files, _unique([Path(f).stem for f in files]), strict=True)], False


def _finished(item: CohortItem, out: Path) -> bool:
    """Whether ``out`` already holds this input's results (a resumed cohort skips it)."""
    run, metrics = out / "mmbio-run.json", out / "metrics.json"
    if not (run.is_file() and metrics.is_file()):
        return False
    try:
        rec = json.loads(run.read_text())
    except (OSError, ValueError):
        return False
    same = str(rec.get("input")) in (item.path, str(Path(item.path).resolve()))  # OutputDir records it resolved
    return same and bool(rec.get("finished"))


#: written into an input's folder once it is validated: the options it was validated with (resume checks them)
OPTIONS_FILE = "cohort-options.json"


def _options_of(out: Path) -> list[str] | None:
    """The ``mmbio validate`` options an input's folder was validated with by a cohort, ``None`` if unknown."""
    try:
        return [str(a) for a in json.loads((out / OPTIONS_FILE).read_text())["options"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _status_of(out: Path) -> str:
    try:
        doc = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return "error"
    if doc.get("fell") or (doc.get("trial") or {}).get("fell"):  # a controller that fell never passes
        return "fail"
    if doc.get("no_gait_cycle"):  # stayed up without a stride: its gait metrics are n/a, neither pass nor fail
        return "n/a"
    proto = doc.get("protocol") or {}
    cred = doc.get("credibility") or {}
    ok = proto.get("passed", True) is not False and cred.get("passed", True) is not False
    return "pass" if ok else "fail"


def validate_one(item: CohortItem, out: str, common: Sequence[str]) -> dict[str, Any]:
    """Validate one input into ``out`` (the worker's task): ``mmbio validate`` with its output captured. Returns the
    input's row; a bad input is a row with status ``error`` and its one-line message, never an exception."""
    from mmbio.cli import main

    t0 = time.perf_counter()
    err, sink = io.StringIO(), io.StringIO()
    argv = ["validate", item.path, "--output", out, "--overwrite", *common, *item.extra]
    with contextlib.suppress(OSError):  # this input's old record goes first: a kill now leaves it not resumable
        (Path(out) / OPTIONS_FILE).unlink()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(sink):
            code = main(argv)
    except SystemExit as e:  # argparse refusing a row's option (e.g. a manifest mass of 'nan'): its line is in err
        code = e.code if isinstance(e.code, int) else 2
    except Exception as e:  # a real bug in one input must not stop the cohort: recorded with its type
        code = -1
        err.write(f"mmbio: error: {type(e).__name__}: {e}\n")
    lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("mmbio:")]
    status = "error" if code not in (0, 1) else ("fail" if code == 1 else _status_of(Path(out)))
    if status != "error":
        from mmbio.io.atomic import atomic_path

        with atomic_path(Path(out) / OPTIONS_FILE) as tmp:
            tmp.write_text(json.dumps({"input": item.path, "options": [*common, *item.extra]}))
    return {
        "name": item.name,
        "input": item.path,
        "update": item.update,
        "status": status,
        "exit": code,
        "error": printable(re.sub(r"^mmbio: (error: )?", "", lines[-1]), 500) if status == "error" and lines else "",
        "wall_s": round(time.perf_counter() - t0, 3),
        "skipped": False,
        "worker_pid": os.getpid(),
        "options": [*common, *item.extra],
    }


Runner = Callable[[CohortItem, str, Sequence[str]], dict[str, Any]]
Progress = Callable[[int, int, int, int], None]


def run_cohort(
    items: Sequence[CohortItem],
    out: str | Path,
    common: Sequence[str] = (),
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    runner: Runner = validate_one,
    training_run: bool = False,
) -> CohortResult:
    """Validate every item into ``out/<name>`` on Dask; skips finished ones (resume). ``progress(done, failed,
    running, total)`` after each completion. ``runner`` is the task (default :func:`validate_one`)."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise MmbioError("cohort validation needs Dask's distributed scheduler: pip install 'mmbio[cohort]'") from None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[CohortItem] = []
    for it in items:
        sub = out / it.name
        if _options_of(sub) == [*common, *it.extra] and _finished(it, sub):
            rows[it.name] = {"name": it.name, "input": it.path, "update": it.update, "status": _status_of(sub),
                             "exit": None, "error": "", "wall_s": 0.0, "skipped": True, "worker_pid": None,
                             "options": [*common, *it.extra]}  # fmt: skip
        else:
            todo.append(it)
    total, done, failed = len(items), len(rows), 0
    if progress:
        progress(done, failed, 0, total)
    if todo:
        n = max(1, int(workers or os.cpu_count() or 1))
        with contextlib.ExitStack() as stack:
            if scheduler:
                client = stack.enter_context(Client(scheduler, timeout="30s"))
            else:
                cluster = stack.enter_context(
                    LocalCluster(
                        n_workers=min(n, len(todo)),
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=40,
                    )
                )
                client = stack.enter_context(Client(cluster))
            futures = {
                client.submit(runner, it, str(out / it.name), list(common), key=f"mmbio-{i}-{it.name}", pure=False): it
                for i, it in enumerate(todo)
            }
            running = len(futures)
            if progress:
                progress(done, failed, running, total)
            for fut in as_completed(futures):
                it = futures[fut]
                running -= 1
                try:
                    row = fut.result()
                except Exception as e:  # KilledWorker (the worker died too often) or a scheduler problem
                    row = {"name": it.name, "input": it.path, "update": it.update, "status": "error", "exit": None,
                           "error": printable(f"{type(e).__name__}: {e}", 500), "wall_s": None, "skipped": False,
                           "worker_pid": None, "options": [*common, *it.extra]}  # fmt: skip
                rows[it.name] = row
                done += 1
                failed += row["status"] == "error"
                if progress:
                    progress(done, failed, running, total)
    ordered = [rows[it.name] for it in items]
    return CohortResult(ordered, out, training_run)
