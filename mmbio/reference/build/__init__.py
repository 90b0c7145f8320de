"""Build the compact normative tables in ``reference_data/`` from the raw data in ``shared/reference``.

One reproducible command (deterministic: running it twice gives byte-identical files)::

    python -m mmbio.reference.build --shared ../shared/reference --out reference_data [--only NAME] [--date YYYY-MM-DD]

Each dataset gets a folder ``<out>/<name>/`` with

* ``curves.csv``: tidy table, columns :data:`CURVE_COLUMNS`, 101 points (0–100 % of the gait cycle,
  heel strike to heel strike of the same foot) per (condition, quantity, variable, side);
* ``scalars.csv`` (optional): columns :data:`SCALAR_COLUMNS`;
* ``subjects.csv`` (datasets with several subjects: hamner2013_run, schreiber2019, santuz2020_emg): each
  subject's mean cycle, for the leave-one-subject-out human ceiling (:mod:`mmbio.analysis.ceiling`; cycles of
  one subject are never a ceiling). Stored wide to stay small: columns
  :data:`~mmbio.reference.registry.SUBJECT_ID_COLUMNS` then ``p0`` … ``p100`` (one row per curve);
  :func:`mmbio.reference.registry.load_subject_curves` returns it tidy (:data:`SUBJECT_COLUMNS`). Only the
  variables of :data:`SUBJECT_VARIABLES` are kept (the angles, GRF components and muscles the validation
  metrics use);
* ``provenance.yaml``: citation, licence, conditions, sign conventions, source files with sha256,
  the build command and processing notes.

Floats are written with 5 significant digits (at most 4 decimals); SD is empty with fewer than 3 cycles (one subject) or
when the source gives none. The raw files are only read, never copied. ``santuz2020_emg`` reads ``SYNS.RData``
with the optional build-time package ``rdata`` (the ``dev`` extra), imported only inside its builder.

Package layout: :mod:`~mmbio.reference.build.common` (table containers, deterministic writing, cycle and trial
helpers) and one module per dataset: :mod:`~mmbio.reference.build.schwartz`, :mod:`~mmbio.reference.build.santuz`,
:mod:`~mmbio.reference.build.emg_timing`, :mod:`~mmbio.reference.build.hamner`,
:mod:`~mmbio.reference.build.rajagopal`, :mod:`~mmbio.reference.build.schreiber`. This module holds the registry
of builders (:data:`BUILDERS`), :func:`build` and the command line (:func:`main`, run by ``__main__``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from mmbio.errors import MmbioError
from mmbio.reference.build.common import (
    ANGLE_SIGN_NOTE,
    BUILD_COMMAND,
    GRF_AXES,
    GRF_SIGN_NOTE,
    IPSILATERAL_NEGATE_LEFT,
    MAX_DECIMALS,
    MIN_CYCLES_FOR_SD,
    N_POINTS,
    PCT,
    SIG_DIGITS,
    SUBJECT_VARIABLES,
    DatasetBuild,
    SubjectStack,
    angle_cycles,
    cycle_toe_off,
    fmt,
    grf_cycles,
    mean_sd,
    resample_cycle,
    scalar_mean_sd,
    sha256,
    source_entries,
    stance_ok,
    write_csv,
    write_dataset,
)
from mmbio.reference.build.emg_timing import TIMING_CANONICAL, TIMING_NAMES, build_emg_timing
from mmbio.reference.build.hamner import (
    HAMNER_SPEEDS,
    HAMNER_SUBJECTS,
    build_hamner,
    hamner_peak_vertical,
    hamner_trial,
    hamner_weight,
)
from mmbio.reference.build.rajagopal import RAJAGOPAL_MASS_KG, build_rajagopal
from mmbio.reference.build.santuz import build_santuz
from mmbio.reference.build.schreiber import SCHREIBER_CONDITIONS, build_schreiber, schreiber_subjects
from mmbio.reference.build.schwartz import (
    SCHWARTZ_CURVES,
    SCHWARTZ_EVENTS,
    SCHWARTZ_SCALARS,
    SCHWARTZ_SPEEDS,
    build_schwartz,
)

__all__ = [
    "ANGLE_SIGN_NOTE",
    "BUILDERS",
    "BUILD_COMMAND",
    "GRF_AXES",
    "GRF_SIGN_NOTE",
    "HAMNER_SPEEDS",
    "HAMNER_SUBJECTS",
    "IPSILATERAL_NEGATE_LEFT",
    "MAX_DECIMALS",
    "MIN_CYCLES_FOR_SD",
    "N_POINTS",
    "PCT",
    "RAJAGOPAL_MASS_KG",
    "SCHREIBER_CONDITIONS",
    "SCHWARTZ_CURVES",
    "SCHWARTZ_EVENTS",
    "SCHWARTZ_SCALARS",
    "SCHWARTZ_SPEEDS",
    "SIG_DIGITS",
    "SUBJECT_VARIABLES",
    "TIMING_CANONICAL",
    "TIMING_NAMES",
    "DatasetBuild",
    "SubjectStack",
    "angle_cycles",
    "build",
    "build_emg_timing",
    "build_hamner",
    "build_rajagopal",
    "build_santuz",
    "build_schreiber",
    "build_schwartz",
    "cycle_toe_off",
    "fmt",
    "grf_cycles",
    "hamner_peak_vertical",
    "hamner_trial",
    "hamner_weight",
    "main",
    "mean_sd",
    "resample_cycle",
    "scalar_mean_sd",
    "schreiber_subjects",
    "sha256",
    "source_entries",
    "stance_ok",
    "write_csv",
    "write_dataset",
]

BUILDERS: dict[str, Callable[[Path], DatasetBuild]] = {
    "schwartz2008": build_schwartz,
    "rajagopal2016_walk": build_rajagopal,
    "hamner2013_run": build_hamner,
    "schreiber2019": build_schreiber,
    "santuz2020_emg": build_santuz,
    "emg_timing": build_emg_timing,
}


def build(shared: Path, out: Path, only: Sequence[str] | None = None, date: str | None = None) -> list[Path]:
    """Build the named datasets (all when ``only`` is empty) from ``shared`` into ``out``; returns folders."""
    shared, out = Path(shared), Path(out)
    if not shared.is_dir():
        raise MmbioError(f"{shared}: shared reference folder not found")
    names = list(only) if only else list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise MmbioError(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(BUILDERS)}")
    out.mkdir(parents=True, exist_ok=True)
    return [write_dataset(out, BUILDERS[n](shared), date) for n in names]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mmbio.reference.build", description=__doc__.split("\n")[0])
    p.add_argument("--shared", type=Path, required=True, help="path to shared/reference (read-only raw data)")
    p.add_argument("--out", type=Path, required=True, help="output folder (reference_data)")
    p.add_argument("--only", action="append", default=[], help="build only this dataset (repeatable)")
    p.add_argument("--date", default=None, help="build date written into provenance.yaml (omitted by default)")
    a = p.parse_args(argv)
    try:
        for d in build(a.shared, a.out, a.only, a.date):
            print(f"wrote {d}")
    except MmbioError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
