"""Registry of the normative reference datasets shipped in ``reference_data/``.

Each dataset is a folder ``<name>/`` with ``curves.csv`` (tidy: :data:`CURVE_COLUMNS`, 101 points over
0–100 % of the gait cycle per condition, quantity, variable and side), optional ``scalars.csv``
(:data:`SCALAR_COLUMNS`), optional ``subjects.csv`` (each subject's mean cycle, or each cycle of a
single-subject dataset, for the human ceiling: :func:`load_subject_curves`) and ``provenance.yaml``
(citation, licence, conditions, conventions). The tables are built from the raw data by
:mod:`mmbio.reference.build`.

Data folder: ``$MMBIO_REFERENCE_DATA`` if set; else the package data ``mmbio._data.reference_data``
(installed wheel); else ``<repo>/reference_data`` (source checkout / editable install).

A dataset spec is ``NAME`` or ``NAME:CONDITION`` (``schwartz2008:free``); without a condition the
dataset's default is used (:data:`DEFAULT_CONDITIONS`, else its only/first condition).

**Subject-specific references.** In a dataset with per-subject curves (``subjects.csv``, unit kind ``subject``) the
condition ``COND/SUBJECT`` (``schreiber2019:c4/2014001``) is that one subject's mean cycles as the reference: its
curves are the subject's (no SD: one person; ``n_subjects`` 1), its scalars the condition's (population bands), and
its human ceiling is the other subjects against this one (:mod:`mmbio.analysis.ceiling`). ``COND/-SUBJECT`` is the
condition *without* that subject: mean ± SD (ddof 1) of the other subjects' curves and a leave-one-subject-out
ceiling over them, for a measured trial of that subject (never scored against its own curves).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmbio.errors import UnknownReferenceError
from mmbio.io.yaml_safe import load_yaml

CURVE_COLUMNS: tuple[str, ...] = (
    "condition",
    "quantity",
    "variable",
    "side",
    "units",
    "pct",
    "mean",
    "sd",
    "n_subjects",
    "n_cycles",
)
SCALAR_COLUMNS: tuple[str, ...] = ("condition", "variable", "side", "units", "mean", "sd", "n")
#: subjects.csv on disk: these identifying columns, then one column per % of cycle (``p0`` … ``p100``).
SUBJECT_ID_COLUMNS: tuple[str, ...] = ("condition", "unit_id", "unit_kind", "quantity", "variable", "side", "units")
SUBJECT_PCT_COLUMNS: tuple[str, ...] = tuple(f"p{i}" for i in range(101))
#: The tidy form returned by :func:`load_subject_curves` (unit_kind ``'subject'`` or ``'cycle'``).
SUBJECT_COLUMNS: tuple[str, ...] = (
    "condition",
    "unit_id",
    "unit_kind",
    "quantity",
    "variable",
    "side",
    "units",
    "pct",
    "value",
)
QUANTITIES: tuple[str, ...] = ("joint_angle", "grf", "emg", "joint_moment", "joint_power")

#: Condition used when a spec names no condition.
DEFAULT_CONDITIONS: dict[str, str] = {"schwartz2008": "free", "hamner2013_run": "3", "schreiber2019": "c4"}

ENV_VAR = "MMBIO_REFERENCE_DATA"
#: ``COND/SUBJECT``: one subject of a condition as the reference (module docstring).
SUBJECT_SEP = "/"


def data_dir() -> Path:
    """The folder that holds one sub-folder per reference dataset."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    try:  # installed wheel: package data (a namespace package, so use its search locations)
        from importlib.util import find_spec

        spec = find_spec("mmbio._data.reference_data")
        for loc in (spec.submodule_search_locations or []) if spec else []:
            if Path(loc).is_dir():
                return Path(loc)
    except (ImportError, ValueError):
        pass
    import mmbio

    return Path(mmbio.__file__).resolve().parents[1] / "reference_data"


@dataclass(frozen=True)
class ReferenceDataset:
    """One reference dataset, as described by its ``provenance.yaml``.

    n_subjects / n_cycles: per condition (``None`` where the source does not say).
    """

    name: str
    title: str
    citation: str
    licence: str
    conditions: list[str]
    units: dict[str, str]
    sign_conventions: dict[str, str]
    n_subjects: dict[str, int | None]
    n_cycles: dict[str, int | None]
    notes: list[str]
    url: str = ""
    description: str = ""
    kind: str = "curves"
    path: Path = field(default_factory=Path)
    provenance: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def default_condition(self) -> str:
        return DEFAULT_CONDITIONS.get(self.name, self.conditions[0] if self.conditions else "")

    def condition_info(self, condition: str) -> dict[str, Any]:
        """The provenance entry of one condition (description, speed, n)."""
        return dict(self.provenance.get("conditions", {}).get(split_condition(condition)[0]) or {})

    @classmethod
    def from_folder(cls, folder: Path) -> ReferenceDataset:
        prov = load_yaml(folder / "provenance.yaml")  # bounded (mmbio.io.yaml_safe); a mapping, {} when empty
        conds = prov.get("conditions") or {}
        sc = prov.get("sign_conventions") or {}
        return cls(
            name=str(prov.get("name", folder.name)),
            title=str(prov.get("title", "")),
            citation=str(prov.get("citation", "")),
            licence=str(prov.get("licence", "")),
            conditions=[str(c) for c in conds],
            units={str(k): str(v) for k, v in (prov.get("units") or {}).items()},
            sign_conventions={str(k): str(v) for k, v in sc.items()} if isinstance(sc, dict) else {"all": str(sc)},
            n_subjects={str(k): v for k, v in (prov.get("n_subjects") or {}).items()},
            n_cycles={str(k): v for k, v in (prov.get("n_cycles") or {}).items()},
            notes=[str(n) for n in prov.get("processing") or []],
            url=str(prov.get("url") or ""),
            description=str(prov.get("description") or ""),
            kind=str(prov.get("kind", "curves")),
            path=folder,
            provenance=prov,
        )


@dataclass(frozen=True)
class ReferenceCurve:
    """A normative curve. pct: (101,) % of gait cycle; mean: (101,); sd: (101,) or ``None``."""

    pct: np.ndarray
    mean: np.ndarray
    sd: np.ndarray | None
    units: str
    n_subjects: int | None
    n_cycles: int | None
    name: str = ""
    side: str = ""
    quantity: str = ""
    source: str = ""

    @property
    def lower(self) -> np.ndarray | None:
        """mean − SD, or ``None`` without SD."""
        return None if self.sd is None else self.mean - self.sd

    @property
    def upper(self) -> np.ndarray | None:
        return None if self.sd is None else self.mean + self.sd

    def __repr__(self) -> str:
        n = f"{self.n_subjects or '?'} subjects / {self.n_cycles or '?'} cycles"
        sd = "" if self.sd is not None else ", no SD"
        rng = f"{np.nanmin(self.mean):.3g}..{np.nanmax(self.mean):.3g} {self.units}"
        return f"ReferenceCurve({self.source} {self.name!r} side={self.side!r}, {self.pct.size} points, mean {rng}, {n}{sd})"


# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _datasets(root: str) -> dict[str, ReferenceDataset]:
    base = Path(root)
    out: dict[str, ReferenceDataset] = {}
    if base.is_dir():
        for d in sorted(base.iterdir()):
            if (d / "provenance.yaml").is_file():
                ds = ReferenceDataset.from_folder(d)
                out[ds.name] = ds
    return out


def _all() -> dict[str, ReferenceDataset]:
    return _datasets(str(data_dir()))


def list_references(include_auxiliary: bool = False) -> list[ReferenceDataset]:
    """The curve datasets (sorted by name); with ``include_auxiliary`` also tables like ``emg_timing``."""
    return [d for d in _all().values() if include_auxiliary or d.kind == "curves"]


def get_reference(name: str) -> ReferenceDataset:
    """One dataset by name; :class:`UnknownReferenceError` listing the valid names otherwise."""
    ds = _all()
    if name not in ds:
        valid = ", ".join(ds) or f"(none found in {data_dir()})"
        raise UnknownReferenceError(f"unknown reference dataset {name!r}; choose from: {valid}")
    return ds[name]


def split_condition(condition: str) -> tuple[str, str | None]:
    """``'c4/2014001'`` → ``('c4', '2014001')``; ``'c4/-2014001'`` → ``('c4', '-2014001')`` (the condition without
    that subject); ``'c4'`` → ``('c4', None)`` (subject-specific references, module docstring)."""
    base, sep, subject = str(condition).partition(SUBJECT_SEP)
    return base, (subject.strip() or None) if sep else None


def left_out_subject(subject: str | None) -> str | None:
    """The subject a ``-SUBJECT`` condition leaves out (``None`` for a subject-specific one or none)."""
    return subject[1:] if subject and subject.startswith("-") else None


def reference_subjects(name: str, condition: str) -> tuple[str, ...]:
    """The subject ids of one condition that can be a subject-specific reference (``subjects.csv`` units of kind
    ``subject``); empty when the dataset has none."""
    f = get_reference(name).path / "subjects.csv"
    return _subject_ids(str(f), split_condition(condition)[0]) if f.is_file() else ()


@lru_cache(maxsize=64)
def _subject_ids(path: str, condition: str) -> tuple[str, ...]:
    """Subject unit ids of one condition of a ``subjects.csv``, read once: every subject-specific curve lookup checks
    its subject against them."""
    df = _read_subjects(path)
    sel = df[(df.condition == condition) & (df.unit_kind == "subject")]
    return tuple(dict.fromkeys(str(u) for u in sel.unit_id))


def find_subject_reference(file_name: str) -> str | None:
    """The subject-specific reference a lab file belongs to, from its name: ``2014001_C4_05.c3d`` →
    ``'schreiber2019:c4/2014001'`` (a name token equal to a subject id of a dataset, another equal to one of its
    conditions, case-insensitive); ``None`` when no dataset matches or several do."""
    import re

    tokens = [t.lower() for t in re.split(r"[^A-Za-z0-9]+", Path(str(file_name)).stem) if t]
    found = []
    for ds in list_references():
        for cond in ds.conditions:
            if cond.lower() not in tokens:
                continue
            found += [f"{ds.name}:{cond}/{u}" for u in reference_subjects(ds.name, cond) if u.lower() in tokens]
    return found[0] if len(found) == 1 else None


def _check_condition(ds: ReferenceDataset, condition: str) -> str:
    condition = str(condition)
    base, subject = split_condition(condition)
    if base not in ds.conditions:
        raise UnknownReferenceError(
            f"unknown condition {base!r} for {ds.name}; choose from: {', '.join(ds.conditions)}"
        )
    if SUBJECT_SEP in condition:
        have = reference_subjects(ds.name, base)
        if not have:
            raise UnknownReferenceError(
                f"{ds.name}:{base} has no per-subject curves, so no subject-specific reference ({condition!r})"
            )
        if subject is None or subject == "-":
            raise UnknownReferenceError(f"{ds.name}:{condition}: no subject after '/'; choose from: {', '.join(have)}")
        if (left_out_subject(subject) or subject) not in have:
            raise UnknownReferenceError(f"{ds.name}:{base} has no subject {subject!r}; choose from: {', '.join(have)}")
    return condition


def parse_spec(spec: str) -> tuple[str, str]:
    """``'NAME[:CONDITION]'`` → ``(name, condition)`` with the dataset's default condition filled in."""
    name, _, cond = str(spec).strip().partition(":")
    ds = get_reference(name.strip())
    cond = cond.strip() or ds.default_condition
    return ds.name, _check_condition(ds, cond)


@lru_cache(maxsize=16)
def _read_csv(path: str) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"condition": str, "side": str}, keep_default_na=False, na_values=[""])


def load_curves(name: str, condition: str | None = None) -> pd.DataFrame:
    """The tidy curve table of a dataset (columns :data:`CURVE_COLUMNS`), optionally one condition."""
    ds = get_reference(name)
    f = ds.path / "curves.csv"
    if not f.is_file():
        raise UnknownReferenceError(f"{name} has no curves (it is an auxiliary table)")
    if condition is not None and split_condition(_check_condition(ds, condition))[1] is not None:
        return _subject_table(str(ds.path / "subjects.csv"), str(condition)).copy()
    df = _read_csv(str(f))
    if condition is not None:
        df = df[df.condition == _check_condition(ds, condition)]
    return df.reset_index(drop=True).copy()


def load_scalars(name: str, condition: str | None = None) -> pd.DataFrame:
    """The scalar table (columns :data:`SCALAR_COLUMNS`); empty when the dataset has none. A subject-specific
    condition (``COND/SUBJECT``) gets its condition's scalars: population values, not the subject's."""
    ds = get_reference(name)
    f = ds.path / "scalars.csv"
    if not f.is_file():
        return pd.DataFrame(columns=list(SCALAR_COLUMNS))
    df = _read_csv(str(f))
    if condition is not None:
        df = df[df.condition == split_condition(_check_condition(ds, condition))[0]]
    return df.reset_index(drop=True).copy()


@lru_cache(maxsize=16)
def _read_subjects(path: str) -> pd.DataFrame:
    return pd.read_csv(
        path,
        dtype={c: str for c in SUBJECT_ID_COLUMNS},
        keep_default_na=False,
        na_values={c: [""] for c in SUBJECT_PCT_COLUMNS},
    )


_EMPTY = pd.DataFrame(columns=["variable", "quantity", "side"])


@lru_cache(maxsize=64)
def _by_variable(path: str, condition: str, subjects: bool = False) -> dict[str, pd.DataFrame]:
    """The rows of one condition of ``curves.csv`` (or ``subjects.csv``) grouped by variable, read once: a
    validation looks up hundreds of curves, and filtering the whole table for each took seconds. Callers filter
    the small groups further (which returns new frames) and never modify them."""
    base, subject = split_condition(condition)
    if subject is not None and not subjects:  # one subject's curves as the reference (module docstring)
        df = _subject_table(str(Path(path).with_name("subjects.csv")), condition)
    else:
        df = _read_subjects(path) if subjects else _read_csv(path)
        df = df[df.condition == base]
    return {str(v): g for v, g in df.groupby("variable", sort=False)}


@lru_cache(maxsize=16)
def _subject_table(subjects_path: str, condition: str) -> pd.DataFrame:
    """``subjects.csv`` in the tidy ``curves.csv`` form (:data:`CURVE_COLUMNS`) for ``COND/SUBJECT`` (mean = the
    subject's mean cycle, no SD, 1 subject) or ``COND/-SUBJECT`` (mean and SD, ddof 1, over the other subjects);
    cycles not recorded."""
    base, subject = split_condition(condition)
    out_of = left_out_subject(subject)
    df = _read_subjects(subjects_path)
    df = df[(df.condition == base) & (df.unit_kind == "subject")]
    df = df[df.unit_id != out_of] if out_of else df[df.unit_id == subject]
    key = ["quantity", "variable", "side", "units"]
    rows = []
    for k, g in df.groupby(key, sort=False):
        vals = g[list(SUBJECT_PCT_COLUMNS)].to_numpy(dtype=float)
        n = vals.shape[0]
        sd = vals.std(axis=0, ddof=1) if n >= 2 else np.full(vals.shape[1], np.nan)
        rows.append(pd.DataFrame({"condition": condition, **dict(zip(key, k, strict=True)),
                                  "pct": np.arange(vals.shape[1], dtype=float), "mean": vals.mean(axis=0),
                                  "sd": sd, "n_subjects": n, "n_cycles": np.nan}))  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    return pd.concat(rows, ignore_index=True)[list(CURVE_COLUMNS)]


def load_subject_curves_wide(name: str, condition: str | None = None) -> pd.DataFrame:
    """``subjects.csv`` as stored: one row per curve, :data:`SUBJECT_ID_COLUMNS` + ``p0`` … ``p100``.

    Empty (those columns, no rows) when the dataset has no per-subject data (a published mean ± SD, or
    one subject with one cycle).
    """
    ds = get_reference(name)
    f = ds.path / "subjects.csv"
    if not f.is_file():
        return pd.DataFrame(columns=[*SUBJECT_ID_COLUMNS, *SUBJECT_PCT_COLUMNS])
    df = _read_subjects(str(f))
    if condition is not None:
        df = df[df.condition == split_condition(_check_condition(ds, condition))[0]]
    return df.reset_index(drop=True).copy()


def load_subject_curves(name: str, condition: str | None = None) -> pd.DataFrame:
    """Per-subject (or per-cycle) curves, tidy: columns :data:`SUBJECT_COLUMNS`, 101 rows (pct 0–100) per curve.

    ``unit_kind`` is ``'subject'`` (``unit_id`` = subject id; the value is that subject's mean cycle) or
    ``'cycle'`` (single-subject datasets: ``unit_id`` = ``'cycle1'``, …). Empty frame with those columns when
    the dataset has none.
    """
    wide = load_subject_curves_wide(name, condition)
    if wide.empty:
        return pd.DataFrame(columns=list(SUBJECT_COLUMNS))
    vals = wide[list(SUBJECT_PCT_COLUMNS)].to_numpy(dtype=float)
    n, p = vals.shape
    out = wide.loc[np.repeat(np.arange(n), p), list(SUBJECT_ID_COLUMNS)].reset_index(drop=True)
    out["pct"] = np.tile(np.arange(p), n)
    out["value"] = vals.reshape(-1)
    return out[list(SUBJECT_COLUMNS)]


@dataclass(frozen=True)
class SubjectCurves:
    """The per-subject curves of one variable. values: (n, 101); unit_ids: n ids; kind 'subject' | 'cycle'."""

    values: np.ndarray
    unit_ids: tuple[str, ...]
    unit_kind: str
    units: str
    side: str
    quantity: str
    source: str


def subject_curves(
    name: str, condition: str, variable: str, side: str | None = None, quantity: str | None = None
) -> SubjectCurves | None:
    """The (n, 101) per-subject curves of one variable and side, ``None`` when the dataset has none.

    Side and quantity are chosen as in :func:`reference_curve` (a side-specific request falls back to
    ``'both'``).
    """
    ds = get_reference(name)
    f = ds.path / "subjects.csv"
    if not f.is_file():
        return None
    base = split_condition(_check_condition(ds, condition))[0]  # a subject-specific condition: all its subjects
    sel = _by_variable(str(f), base, subjects=True).get(variable, _EMPTY)
    if quantity is not None:
        sel = sel[sel.quantity == quantity]
    if sel.empty:
        return None
    qs = [q for q in QUANTITIES if q in set(sel.quantity)] + sorted(set(sel.quantity) - set(QUANTITIES))
    sel = sel[sel.quantity == qs[0]]
    order = [side, "both"] if side in ("r", "l") else ([side] if side else ["r", "both", "l"])
    pick = next((s for s in order if s in set(sel.side)), None)
    if pick is None:
        return None
    sel = sel[sel.side == pick]
    return SubjectCurves(
        values=sel[list(SUBJECT_PCT_COLUMNS)].to_numpy(dtype=float),
        unit_ids=tuple(str(u) for u in sel.unit_id),
        unit_kind=str(sel.unit_kind.iloc[0]),
        units=str(sel.units.iloc[0]),
        side=pick,
        quantity=qs[0],
        source=f"{name}:{condition}",
    )


def load_table(name: str, filename: str) -> pd.DataFrame:
    """Any other table of a dataset, e.g. ``load_table('emg_timing', 'windows.csv')``."""
    ds = get_reference(name)
    f = ds.path / filename
    if not f.is_file():
        have = ", ".join(sorted(p.name for p in ds.path.glob("*.csv")))
        raise UnknownReferenceError(f"{name} has no table {filename!r}; it has: {have}")
    return _read_csv(str(f)).copy()


def _opt_int(v: object) -> int | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return int(f) if np.isfinite(f) else None


def reference_curve(
    name: str, condition: str | None, variable: str, side: str | None = None, quantity: str | None = None
) -> ReferenceCurve:
    """One normative curve.

    condition ``None`` → the dataset's default. side ``'r'``/``'l'``/``'both'``; a side-specific request
    falls back to ``'both'`` when the dataset does not distinguish sides, and ``None`` takes ``'r'``,
    then ``'both'``, then ``'l'``. quantity is only needed when a variable name exists in several
    quantities (``knee_flexion`` is an angle and a moment); otherwise the first of
    :data:`QUANTITIES` that has the variable is used.
    """
    ds = get_reference(name)
    cond = ds.default_condition if condition is None else _check_condition(ds, condition)
    f = ds.path / "curves.csv"
    if not f.is_file():
        raise UnknownReferenceError(f"{name} has no curves (it is an auxiliary table)")
    groups = _by_variable(str(f), cond)
    sel = groups.get(variable, _EMPTY)
    if quantity is not None:
        sel = sel[sel.quantity == quantity]
    if sel.empty:
        have = sorted(groups)
        raise UnknownReferenceError(
            f"{name}:{cond} has no {quantity + ' ' if quantity else ''}variable {variable!r}; choose from: {', '.join(have)}"
        )
    qs = [q for q in QUANTITIES if q in set(sel.quantity)] + sorted(set(sel.quantity) - set(QUANTITIES))
    sel = sel[sel.quantity == qs[0]]
    sides = set(sel.side)
    order = [side, "both"] if side in ("r", "l") else ([side] if side else ["r", "both", "l"])
    pick = next((s for s in order if s in sides), None)
    if pick is None:
        raise UnknownReferenceError(
            f"{name}:{cond} has {variable} for side(s) {', '.join(sorted(sides))}, not {side!r}"
        )
    c = sel[sel.side == pick].sort_values("pct")
    sd = c["sd"].to_numpy(dtype=float)
    first = c.iloc[0]
    return ReferenceCurve(
        pct=c["pct"].to_numpy(dtype=float),
        mean=c["mean"].to_numpy(dtype=float),
        sd=None if not np.isfinite(sd).any() else sd,
        units=str(first["units"]),
        n_subjects=_opt_int(first["n_subjects"]),
        n_cycles=_opt_int(first["n_cycles"]),
        name=variable,
        side=pick,
        quantity=qs[0],
        source=f"{name}:{cond}",
    )


# --------------------------------------------------------------------------------------------------
# features of curves (used by the builder and by `reference show`)
# --------------------------------------------------------------------------------------------------


def vertical_grf_peaks(v: np.ndarray, loaded_bw: float = 0.05) -> dict[str, float]:
    """Peaks of one vertical GRF curve (BW) over a stance or a gait cycle.

    Stance = the first run of samples above ``loaded_bw``. Returns ``max``, and for a walking
    (double-humped) curve ``peak1`` (max in the first half of stance), ``peak2`` (max in the second
    half) and ``valley`` (min between them); those three are NaN when the curve has no valley.
    """
    v = np.asarray(v, dtype=float)
    out = {"max": float(np.nanmax(v)) if np.isfinite(v).any() else float("nan")}
    out.update(peak1=float("nan"), valley=float("nan"), peak2=float("nan"))
    above = np.flatnonzero(np.nan_to_num(v) > loaded_bw)
    if above.size < 5:
        return out
    i0 = above[0]
    i1 = i0
    while i1 + 1 < v.size and v[i1 + 1] > loaded_bw:
        i1 += 1
    mid = (i0 + i1) // 2
    a = i0 + int(np.nanargmax(v[i0 : mid + 1]))
    b = mid + int(np.nanargmax(v[mid : i1 + 1]))
    if b - a < 2:
        return out
    k = a + int(np.nanargmin(v[a : b + 1]))
    if k in (a, b):
        return out
    out.update(peak1=float(v[a]), valley=float(v[k]), peak2=float(v[b]))
    return out


def _fmt(x: float, digits: int = 3) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}g}"


def format_reference_list() -> str:
    """Text for ``mmbio reference list``: one block per dataset."""
    lines = []
    for ds in list_references():
        conds = ", ".join(
            f"{c}{'*' if c == ds.default_condition else ''} (n={ds.n_subjects.get(c) or '?'})" for c in ds.conditions
        )
        lines.append(f"{ds.name}: {ds.title}")
        lines.append(f"  conditions: {conds}")
        lines.append(f"  citation: {ds.citation}")
        lines.append(f"  licence: {ds.licence}")
    aux = [d for d in list_references(include_auxiliary=True) if d.kind != "curves"]
    if aux:
        lines.append("auxiliary tables: " + ", ".join(f"{d.name} ({d.title})" for d in aux))
    lines.append("(* = default condition; use NAME:CONDITION, e.g. schwartz2008:free)")
    return "\n".join(lines)


_KEY_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("joint_angle", "hip_flexion", "range"),
    ("joint_angle", "knee_flexion", "range"),
    ("joint_angle", "ankle_dorsiflexion", "range"),
    ("grf", "grf_vertical", "grf"),
    ("grf", "grf_ap", "range"),
)


def format_reference_show(name: str, condition: str | None = None) -> str:
    """Text for ``mmbio reference show NAME[:CONDITION]``: provenance summary and variables."""
    if condition is None and ":" in name:
        name, condition = parse_spec(name)
    ds = get_reference(name)
    cond = ds.default_condition if condition is None else _check_condition(ds, condition)
    info = ds.condition_info(cond)
    lines = [
        f"{ds.name}:{cond} — {ds.title}",
        f"  citation: {ds.citation}",
        f"  licence: {ds.licence}" + (f"; {ds.url}" if ds.url else ""),
        f"  condition: {info.get('description', cond)}",
        f"  subjects: {ds.n_subjects.get(cond) or '?'}, cycles: {ds.n_cycles.get(cond) or 'not published'}",
        f"  conditions available: {', '.join(ds.conditions)}",
    ]
    base, subject = split_condition(cond)
    if subject is not None:
        others = len(reference_subjects(ds.name, base)) - 1
        lines[4] = (f"  subject-specific: subject {subject}'s own mean cycles (no SD); scalars are {base}'s "
                    f"(population); ceilings: the other {others} subjects against this one")  # fmt: skip
    elif ds.kind == "curves" and (subs := reference_subjects(ds.name, base)):
        lines.append(f"  subjects (a subject-specific reference is {ds.name}:{base}/SUBJECT): {', '.join(subs)}")
    if ds.kind != "curves":
        lines.append(f"  {ds.description}")
        return "\n".join(lines)
    df = load_curves(name, cond)
    lines.append("  variables (side: n subjects / n cycles):")
    for qty in [q for q in QUANTITIES if q in set(df.quantity)]:
        sub = df[df.quantity == qty]
        units = ", ".join(sorted(set(sub.units)))
        lines.append(f"    {qty} [{units}]:")
        for var, g in sub.groupby("variable", sort=False):
            per_side = []
            for s, gs in g.groupby("side", sort=False):
                ns, nc = _opt_int(gs.n_subjects.iloc[0]), _opt_int(gs.n_cycles.iloc[0])
                per_side.append(f"{s} {ns if ns is not None else '?'}/{nc if nc is not None else '?'}")
            lines.append(f"      {var}: {', '.join(per_side)}")
    key = []
    for qty, var, how in _KEY_FEATURES:
        g = df[(df.quantity == qty) & (df.variable == var)]
        for s, gs in g.groupby("side", sort=False):
            m = gs.sort_values("pct")["mean"].to_numpy(dtype=float)
            u = gs.units.iloc[0]
            if how == "grf":
                p = vertical_grf_peaks(m)
                if np.isfinite(p["peak1"]):
                    txt = f"peaks {_fmt(p['peak1'])} / {_fmt(p['peak2'])}, valley {_fmt(p['valley'])} {u}"
                else:
                    txt = f"max {_fmt(p['max'])} {u}"
            else:
                txt = (
                    f"max {_fmt(np.nanmax(m))} at {int(np.nanargmax(m))} %, "
                    f"min {_fmt(np.nanmin(m))} at {int(np.nanargmin(m))} % ({u})"
                )
            key.append(f"    {var} ({s}): {txt}")
    if key:
        lines.append("  key values of the mean curves:")
        lines += key
    sc = load_scalars(name, cond)
    if len(sc):
        lines.append(
            f"  scalars: {len(sc)} (e.g. "
            + ", ".join(f"{r.variable} {_fmt(r.mean, 4)} {r.units}" for r in sc.head(3).itertuples())
            + ")"
        )
    return "\n".join(lines)
