"""The validation pipeline: one trial against one reference, every metric, ceilings, SPM, protocol verdict.

``validate(trial, "schwartz2008:free", protocol="walking")`` returns a
:class:`~mmbio.analysis.result.ValidationResult`; :mod:`mmbio.report.pdf` turns it into the PDF,
``metrics.json`` and ``curves.csv``. Imports no JAX or Warp.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmbio import __version__
from mmbio.analysis.result import ValidationResult
from mmbio.provenance import git_revision
from mmbio.trial import SIDE_WORD, Trial


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def trial_summary(trial: Trial) -> dict[str, Any]:
    sub = trial.subject
    return {
        "name": trial.name,
        "source": trial.source,
        "kind": trial.kind,
        "events_source": trial.events.source,
        "heel_strikes": {w: int(trial.events.heel_strike[s].size) for s, w in SIDE_WORD.items()},
        "subject": {
            "mass": {"value": _finite(sub.mass_kg), "units": "kg"},
            "height": {"value": _finite(sub.height_m), "units": "m"},
            "speed": {"value": _finite(sub.speed_m_s), "units": "m/s"},
        },
        "notes": list(trial.notes),
    }


def _emg_reference(trial: Trial, name: str, condition: str, emg_reference: str | None) -> tuple[str, str] | None:
    """Which reference the trial's activations/EMG are compared with: the given one, else ``name`` if it has EMG."""
    from mmbio.reference.registry import load_curves, parse_spec

    if trial.activations is None and trial.emg is None:
        return None
    if emg_reference:
        return parse_spec(emg_reference)
    if (load_curves(name, condition).quantity == "emg").any():
        return name, condition
    return None


def validate(
    trial: Trial,
    reference: str = "schwartz2008:free",
    *,
    emg_reference: str | None = None,
    protocol: str | None = None,
    spm: bool = True,
    seed: int | None = 0,
) -> ValidationResult:
    """Compare ``trial`` with ``reference`` (``NAME[:CONDITION]``): kinematics, GRF, activation vs EMG,
    synergies, the redundancy gap, human ceilings, SPM and (with ``protocol``) the pass/warn/fail checks.

    emg_reference: where the trial's activations or EMG are compared (default: ``reference`` when it has
    EMG). seed: NMF restarts (the only random step). Expected bad input raises :class:`MmbioError`.
    """
    from mmbio.analysis.ceiling import apply_ceilings
    from mmbio.analysis.emg import compare_emg
    from mmbio.analysis.grf import compare_grf, infer_running
    from mmbio.analysis.kinematics import compare_kinematics
    from mmbio.analysis.redundancy import inputs_from_tree, redundancy_gap
    from mmbio.analysis.spm import spm_available, spm_one_sample, spm_version
    from mmbio.analysis.synergies import synergies_from_curves
    from mmbio.errors import NoGaitCycleError
    from mmbio.reference.registry import get_reference, parse_spec

    name, condition = parse_spec(reference)
    ref = get_reference(name)
    result = ValidationResult(
        trial=trial_summary(trial),
        reference={"name": name, "condition": condition, "title": ref.title, "citation": ref.citation,
                   "licence": ref.licence},
    )
    diverged = [n for n in trial.notes if n.startswith("diverged at")]
    if "DIVERGED" in trial.notes or diverged:
        # a simulation that blew up is analysed up to the cut, and says so first, never as if normal
        result.trial["diverged"] = True
        result.notes.insert(0, "SIMULATION DIVERGED — metrics cover the trial up to the cut: " + (diverged[0] if diverged else ""))
    running = infer_running(trial, name, condition)
    result.reference["activity"] = "running" if running else "walking"

    kin, kin_curves, notes = compare_kinematics(trial, name, condition)
    result.notes += notes
    for side, variables in kin.items():
        for var, ms in variables.items():
            result.add("kinematics", side, var, ms)
    result.curves += kin_curves

    grf, grf_curves, notes = compare_grf(trial, name, condition, running=running)
    result.notes += notes
    for side, variables in grf.items():
        for var, ms in variables.items():
            result.add("grf", side, var, ms)
    result.curves += grf_curves
    apply_ceilings(result, name, condition)

    emg_ref = _emg_reference(trial, name, condition, emg_reference)
    if emg_ref is not None:
        ename, econd = emg_ref
        emg, emg_curves, notes = compare_emg(trial, ename, econd, normal_timing=not running)
        result.notes += notes
        sub = ValidationResult(trial={}, reference={})
        for side, variables in emg.items():
            for var, ms in variables.items():
                sub.add("emg", side, var, ms)
        apply_ceilings(sub, ename, econd)
        result.metrics["emg"] = sub.metrics.get("emg", {})
        result.curves += emg_curves
        eref = get_reference(ename)
        result.reference["emg"] = {"name": ename, "condition": econd, "citation": eref.citation}
        for side in SIDE_WORD.values():
            side_curves = [c for c in emg_curves if c.side == side]
            if len(side_curves) >= 3:
                syn, _ = synergies_from_curves(side_curves, side, seed=seed or 0)
                result.add("synergies", side, "synergies", syn)
    elif trial.activations is not None or trial.emg is not None:
        result.notes.append(f"activation/EMG not compared: {name}:{condition} has no EMG (use --emg-reference)")

    for side in SIDE_WORD.values():
        kin_r, act_r, kin_c, act_c = inputs_from_tree(result.metrics, side)
        if kin_r and act_r:
            result.add("redundancy", side, "gap", redundancy_gap(kin_r, act_r, kin_c, act_c))

    if spm:
        if not spm_available():
            result.notes.append("SPM not run: the optional spm1d package is not installed (pip install 'mmbio[spm]')")
        for c in result.curves:
            if c.ref_mean is not None and c.domain in ("kinematics", "grf") and c.trial_cycles.shape[0] >= 1:
                c.spm = spm_one_sample(c.trial_cycles, c.ref_mean)
    if not result.curves:
        raise NoGaitCycleError(
            f"{trial.source or trial.name}: no complete gait cycle to compare (check the events and the signals' time spans)"
        )
    result.provenance = {
        "mmbio_version": __version__,
        "git_revision": git_revision(),
        "reference": f"{name}:{condition}",
        "seed": seed,
        "spm1d": spm_version() if spm else None,
    }
    if protocol is not None:
        from mmbio.report.protocol import evaluate

        evaluate(result, protocol)
        result.provenance["protocol"] = result.protocol.get("name") if result.protocol else protocol
    return result
