"""Santuz et al. 2020: treadmill-walking EMG of 13 right-leg muscles, a between-subject reference of 15 subjects.

Sources in ``shared/reference/santuz2020/``:

* ``SYNS.RData`` (the musclesyneRgies package data ``SYNS``; R format, read with the optional PyPI package
  ``rdata``, imported here only): per subject ``ID0001_TW_01`` … ``ID0015_TW_01`` the 13 muscles' envelopes ``V``
  (13, 200) on the authors' 100-stance + 100-swing basis, amplitude-normalised by the authors, plus their
  synergy factorisation (``M``, ``P``, ``Vr``, unused here). ``V`` holds **one gait cycle** per subject: for
  ID0012 it is the first cycle of ``filt_emg_ID0012_TW_01.csv`` (r ≥ 0.999 for every muscle, checked below), not
  a mean over many cycles.
* ``raw_data_ID0012_TW_01_cycles.csv``: touchdown and lift-off times of subject ID0012, the only stance fraction
  in the files. SYNS stores none (``P`` has only a point index 1–200).
* ``filt_emg_ID0012_TW_01.csv``: 3 cycles of ID0012; used only for the within-subject number reported in
  ``provenance.yaml`` (never a ceiling) and for the check above.

Stance fraction (an assumption, documented in provenance): every subject's 200-point cycle is put on 0–100 %
of the gait cycle with ID0012's measured duty factor (mean over the complete cycles of its cycles file,
≈ 63.7 % of the cycle). Amplitude: each subject's curve of each muscle is divided by its own peak, so that
every subject weighs the same in the across-subject mean (the comparisons in :mod:`mmbio.analysis.emg` are
amplitude-free: r, lag, on/off relative to each curve's own range, RMSE after scaling to the reference peak).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mmbio.errors import MmbioError
from mmbio.names import canonical_muscle
from mmbio.reference.build.common import N_POINTS, DatasetBuild, mean_sd, scalar_mean_sd, source_entries

#: the authors' muscle codes, in their order (right leg)
SANTUZ_MUSCLES = ("ME", "MA", "FL", "RF", "VM", "VL", "ST", "BF", "TA", "PL", "GM", "GL", "SO")
SANTUZ_POINTS = 200  # 100 stance + 100 swing
SANTUZ_TIMING_SUBJECT = "ID0012"
#: the ID0012 envelope in SYNS must match one cycle of the authors' filtered file at least this well
MIN_R_SYNS_VS_FILT = 0.99
#: other stance fractions at which the between-subject agreement is reported (provenance: sensitivity)
STANCE_FRACTION_SENSITIVITY = (0.60, 0.66)


def read_syns(path: Path) -> dict[str, np.ndarray]:
    """``{subject id ('ID0001'): V (13, 200)}`` from ``SYNS.RData``, muscles in :data:`SANTUZ_MUSCLES` order.

    Needs the optional package ``rdata`` (the ``dev`` extra); raises :class:`MmbioError` naming it when absent.
    """
    try:
        import rdata
    except ImportError as e:
        raise MmbioError(
            f"santuz2020_emg: reading {path.name} needs the optional package 'rdata' "
            "(pip install rdata, or pip install '.[dev]')"
        ) from e
    with warnings.catch_warnings():  # "Missing constructor for R class musclesyneRgies": plain lists are fine
        warnings.simplefilter("ignore")
        data = rdata.read_rda(path)
    syns = data.get("SYNS")
    if not isinstance(syns, dict) or not syns:
        raise MmbioError(f"santuz2020_emg: {path.name} has no list 'SYNS'")
    out: dict[str, np.ndarray] = {}
    for key in sorted(str(k) for k in syns):
        v = syns[key]["V"]
        names = tuple(str(x) for x in v.coords[v.dims[0]].values)
        arr = np.asarray(v, dtype=float)
        if names != SANTUZ_MUSCLES or arr.shape != (len(SANTUZ_MUSCLES), SANTUZ_POINTS):
            raise MmbioError(f"santuz2020_emg: {key}: V has muscles {names} and shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise MmbioError(f"santuz2020_emg: {key}: V has non-finite values")
        out[key.split("_")[0]] = arr
    return out


def _loo_r(curves: np.ndarray) -> np.ndarray:
    """(n,) Pearson r of each row of ``curves`` (n, p) against the mean of the other rows."""
    n = curves.shape[0]
    out = np.empty(n)
    for i in range(n):
        others = np.delete(curves, i, axis=0).mean(axis=0)
        out[i] = np.corrcoef(curves[i], others)[0, 1]
    return out


def build_santuz(shared: Path) -> DatasetBuild:
    from mmbio.gait.emg import stance_swing_to_cycle

    src = shared / "santuz2020"
    f_syns, f_cyc, f_filt = (
        src / "SYNS.RData",
        src / "raw_data_ID0012_TW_01_cycles.csv",
        src / "filt_emg_ID0012_TW_01.csv",
    )
    syns = read_syns(f_syns)
    subjects = list(syns)
    if len(subjects) < 2:
        raise MmbioError(f"santuz2020_emg: {len(subjects)} subject(s) in {f_syns.name}; need at least 2")
    canon = {m: canonical_muscle(m) for m in SANTUZ_MUSCLES}
    missing = [m for m, c in canon.items() if c is None]
    if missing:
        raise MmbioError(f"santuz2020_emg: no canonical muscle for {missing}")

    # stance fraction: ID0012's complete cycles (touchdown V1, lift-off V2)
    cyc = pd.read_csv(f_cyc)
    td, lo = cyc.V1.to_numpy(dtype=float), cyc.V2.to_numpy(dtype=float)
    stride = np.diff(td)
    stance_s = lo[:-1] - td[:-1]
    fractions = stance_s / stride
    stance_fraction = float(np.mean(fractions))

    # every subject: (13, 200) → (101, 13) on % cycle → each muscle divided by its own peak
    per_subject = {}
    for sid, v in syns.items():
        c = stance_swing_to_cycle(v.T, stance_fraction, N_POINTS)  # (101, 13)
        pk = c.max(axis=0)
        if np.any(pk <= 0):
            raise MmbioError(f"santuz2020_emg: {sid}: a muscle's envelope is never positive")
        per_subject[sid] = (c / pk).T  # (13, 101)
    arr = np.stack([per_subject[s] for s in subjects])  # (n, 13, 101)
    v_peak_lo = float(min(v.max(axis=1).min() for v in syns.values()))
    v_peak_hi = float(max(v.max(axis=1).max() for v in syns.values()))

    # the within-subject number (3 cycles of ID0012, the authors' filtered file) and the SYNS = one-cycle check
    filt = pd.read_csv(f_filt)
    if tuple(c for c in filt.columns if c != "time") != SANTUZ_MUSCLES or len(filt) % SANTUZ_POINTS:
        raise MmbioError(f"santuz2020_emg: unexpected layout of {f_filt.name}")
    n_filt = len(filt) // SANTUZ_POINTS
    env = filt[list(SANTUZ_MUSCLES)].to_numpy(dtype=float).reshape(n_filt, SANTUZ_POINTS, len(SANTUZ_MUSCLES))
    own = syns.get(SANTUZ_TIMING_SUBJECT)
    match = None
    if own is not None:
        r_match = np.array(
            [[np.corrcoef(env[k, :, j], own[j])[0, 1] for j in range(len(SANTUZ_MUSCLES))] for k in range(n_filt)]
        )
        k_best = int(np.argmax(r_match.min(axis=1)))
        match = (k_best, float(r_match[k_best].min()), float(np.max(np.delete(r_match, k_best, axis=0).max())))
        if match[1] < MIN_R_SYNS_VS_FILT:
            raise MmbioError(
                f"santuz2020_emg: {SANTUZ_TIMING_SUBJECT} in SYNS matches no cycle of {f_filt.name} "
                f"(best min r {match[1]:.3f}); the one-cycle reading of SYNS no longer holds"
            )
    # within-subject: ID0012's cycles against each other, on % cycle with each cycle's own stance fraction
    first = 1  # the filtered file holds cycles 2-4 of the cycles file (see processing)
    within_cycles = np.stack(
        [stance_swing_to_cycle(env[k], float(fractions[first + k]), N_POINTS) for k in range(n_filt)]
    )  # (3, 101, 13)
    within_r = {canon[m]: float(np.mean(_loo_r(within_cycles[:, :, j]))) for j, m in enumerate(SANTUZ_MUSCLES)}
    between_r = {canon[m]: float(np.mean(_loo_r(arr[:, j, :]))) for j, m in enumerate(SANTUZ_MUSCLES)}
    # sensitivity of the between-subject agreement to the assumed stance fraction
    sens = {}
    for frac in STANCE_FRACTION_SENSITIVITY:
        alt = np.stack([stance_swing_to_cycle(v.T, frac, N_POINTS).T for v in syns.values()])  # (n, 13, 101)
        sens[frac] = float(np.mean([np.mean(_loo_r(alt[:, j, :])) for j in range(len(SANTUZ_MUSCLES))]))

    b = DatasetBuild("santuz2020_emg")
    units = "fraction of max"
    for j, m in enumerate(SANTUZ_MUSCLES):
        mean, sd = mean_sd(arr[:, j, :])
        b.add_curve("treadmill", "emg", canon[m], "r", units, mean, sd, len(subjects), len(subjects))
        for i, sid in enumerate(subjects):
            b.add_subject_curve("treadmill", sid, "subject", "emg", canon[m], "r", units, arr[i, j, :])
    for var, u, vals in (
        ("stride_time", "s", stride),
        ("stance_time", "s", stance_s),
        ("toe_off_pct", "% cycle", 100 * fractions),
        ("cadence", "steps/min", 120.0 / stride),
    ):
        mval, sval = scalar_mean_sd(vals)
        b.add_scalar("treadmill", var, "r", u, mval, sval, len(vals))

    ids = ", ".join(subjects)
    b.provenance = {
        "name": "santuz2020_emg",
        "kind": "curves",
        "title": f"Treadmill-walking EMG envelopes of 13 right-leg muscles, {len(subjects)} subjects (the authors' "
        "processing)",
        "citation": (
            "Santuz A., Brüll L., Ekizos A., Schroll A., Eckardt N., Kibele A., Schwenk M., Arampatzis A. (2020) "
            "Neuromotor dynamics of human locomotion in challenging settings. iScience 23(1):100796. "
            "doi:10.1016/j.isci.2019.100796"
        ),
        "licence": "MIT",
        "url": "https://doi.org/10.1016/j.isci.2019.100796",
        "description": (
            f"{len(subjects)} participants ({ids}), treadmill walking at self-selected speed (trials <ID>_TW_01): "
            "the authors' filtered, time-normalised envelopes from SYNS.RData (musclesyneRgies package data), one "
            "gait cycle per subject, converted from the 100-stance + 100-swing basis to 0-100 % of the gait cycle. "
            "A between-subject reference: curves are the mean and SD across subjects; subjects.csv holds each "
            "subject's curve for the leave-one-subject-out human ceiling (mmbio.analysis.ceiling)."
        ),
        "subjects": subjects,
        "conditions": {
            "treadmill": {
                "description": "treadmill walking at self-selected speed (speed not in the files)",
                "n_subjects": len(subjects),
                "n_cycles": len(subjects),
            }
        },
        "units": {
            "emg": "fraction of max: each subject's curve divided by its own peak over the cycle (see processing)"
        },
        "sign_conventions": {"emg": "non-negative envelopes; side r (right leg)"},
        "variables": {"emg": {canon[m]: m for m in SANTUZ_MUSCLES}},
        "n_subjects": {"treadmill": len(subjects)},
        "n_cycles": {"treadmill": len(subjects)},
        "stance_fraction": {
            "value": stance_fraction,
            "source": (
                f"ASSUMPTION: SYNS.RData stores no stance fraction (its primitives P carry only the point index "
                f"1-200). Every subject uses the measured duty factor of {SANTUZ_TIMING_SUBJECT} (the only event "
                f"times in the files): the mean of (lift-off - touchdown) / stride over the {len(fractions)} "
                f"complete cycles of {f_cyc.name}, range {fractions.min():.3f}-{fractions.max():.3f}. All subjects "
                "are warped alike, so the between-subject agreement hardly depends on it (sensitivity)."
            ),
            "sensitivity": {
                "note": "mean over muscles of the between-subject leave-one-out r at other stance fractions",
                **{f"{k:.2f}": v for k, v in sens.items()},
            },
        },
        "within_subject_r": {
            "note": (
                f"NOT a ceiling: leave-one-cycle-out Pearson r over the {n_filt} cycles of one subject "
                f"({SANTUZ_TIMING_SUBJECT}, {f_filt.name}); cycles of one person agree better than different "
                "people do. The human ceiling is leave-one-subject-out over subjects.csv (mmbio.analysis.ceiling)."
            ),
            "mean": float(np.mean(list(within_r.values()))),
            "per_muscle": within_r,
        },
        "between_subject_r": {
            "note": (
                f"Pearson r of each subject's curve against the mean of the other {len(subjects) - 1} subjects, "
                "mean over subjects (informative; the ceilings that validation uses come from "
                "mmbio.analysis.ceiling on subjects.csv with the validation's own metric functions)."
            ),
            "mean": float(np.mean(list(between_r.values()))),
            "per_muscle": between_r,
        },
        "sources": source_entries(shared, [f_syns, f_cyc, f_filt]),
        "processing": [
            "authors' pipeline (musclesyneRgies): demean, 4th-order Butterworth high-pass 50 Hz, full-wave "
            "rectification, 4th-order low-pass 20 Hz, min subtraction, amplitude normalised to the trial maximum, "
            "each cycle resampled to 100 stance + 100 swing points; synsNMF replaced values <= 0 by the smallest "
            "positive value.",
            "SYNS.RData read with the PyPI package rdata (build-time only); V of each subject = one gait cycle (13 "
            "muscles x 200 points). "
            + (
                f"Check: {SANTUZ_TIMING_SUBJECT}'s V matches cycle {match[0] + 1} of {f_filt.name} with r >= "
                f"{match[1]:.4f} for every muscle (the other cycles: r <= {match[2]:.3f}), with a different "
                "amplitude scale per muscle (another normalisation), so V is one cycle, not a mean over cycles."
                if match is not None
                else f"{SANTUZ_TIMING_SUBJECT} is not in SYNS: the one-cycle check was not run."
            ),
            f"the 200-point cycles are put on 0-100 % of the gait cycle (101 points) with "
            f"mmbio.gait.emg.stance_swing_to_cycle at the assumed stance fraction {stance_fraction:.4f} "
            "(stance_fraction above).",
            "amplitude: each subject's curve of each muscle divided by its own peak over the cycle (the authors' "
            f"normalisation to the trial maximum leaves this one cycle's peaks between {v_peak_lo:.2f} and "
            f"{v_peak_hi:.2f} of it); every subject then weighs the same in the mean. The comparisons of mmbio.analysis.emg do not depend on "
            "the reference's amplitude (r, lag, on/off relative to each curve's own range, scaled RMSE against "
            "the reference divided by its peak).",
            f"curves: mean and SD (ddof=1) across the {len(subjects)} subjects (n_subjects = n_cycles = "
            f"{len(subjects)}: one cycle each, so the SD holds between-subject and cycle-to-cycle variability).",
            f"subjects.csv: each subject's curve (unit_kind subject, unit_id {subjects[0]} ...), for the "
            "leave-one-subject-out ceiling.",
            f"scalars: timing of {SANTUZ_TIMING_SUBJECT} only (the only subject with event times), over the "
            f"{len(fractions)} complete cycles of {f_cyc.name}; n counts those cycles.",
            f"within-subject number: the {n_filt} cycles of {f_filt.name} are cycles {first + 1}-{first + n_filt} "
            f"of the cycles file (envelopes recomputed from the raw EMG correlate r ≈ 0.997 with those); each put "
            "on 0-100 % with its own stance fraction.",
        ],
    }
    return b
