"""The validation pipeline: one trial against one reference, every metric, ceilings, SPM, protocol verdict.

``validate(trial, "schwartz2008:free", protocol="walking")`` returns a
:class:`~mmbio.analysis.result.ValidationResult`; :mod:`mmbio.report.pdf` turns it into the PDF,
``metrics.json`` and ``curves.csv``. Imports no JAX or Warp.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mmbio import __version__
from mmbio.analysis.result import CurvePair, ValidationResult
from mmbio.provenance import git_revision
from mmbio.trial import SIDE_WORD, Channels, Trial

#: Result domain of the static-optimisation activations compared with the EMG (mirrors ``emg``).
STATIC_OPT_DOMAIN = "emg_static_opt"
#: ``redundancy.<side>.<STATIC_OPT_GAP>``: the redundancy gap with the static-optimisation activations.
STATIC_OPT_GAP = "static_opt"


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


def _emg_reference(
    trial: Trial, name: str, condition: str, emg_reference: str | None, other: bool = False
) -> tuple[str, str] | None:
    """Which reference the trial's activations/EMG (or ``other`` activations) are compared with: the given
    one, else ``name`` if it has EMG."""
    from mmbio.reference.registry import load_curves, parse_spec

    if trial.activations is None and trial.emg is None and not other:
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
    static_opt: Channels | None = None,
    static_opt_source: str | None = None,
    simulation: dict[str, Any] | None = None,
    built_from: Sequence[str] = (),
) -> ValidationResult:
    """Compare ``trial`` with ``reference`` (``NAME[:CONDITION]``): kinematics, GRF, activation vs EMG,
    synergies, the redundancy gap, human ceilings, SPM and (with ``protocol``) the pass/warn/fail checks.

    emg_reference: where the trial's activations or EMG are compared (default: ``reference`` when it has
    EMG). seed: NMF restarts (the only random step). Expected bad input raises :class:`MmbioError`.

    static_opt: activations (unit ``'1'``, MuJoCo actuator names like the trial's own activations, on the
    trial's clock, possibly over part of it) from a static optimisation of the *same kinematics*, e.g.
    ``static_optimisation(...).activation_channels()``. They are compared with the same EMG reference,
    on the trial's own gait cycles (those they cover), with the same metrics, muscle map and ceilings as
    the trial's activations: ``emg_static_opt.<side>.<muscle>.*``, curves of domain ``emg_static_opt`` and
    ``redundancy.<side>.static_opt.*`` (the redundancy gap with these activations in place of the
    trial's). static_opt_source: where they came from (e.g. ``StaticOptResult.summary()``), for the
    notes and ``provenance.static_opt``. Without ``static_opt`` the result is exactly as before.

    simulation: what the simulation itself measured for the credibility checks (residuals, reserves, contact,
    joint ranges, metabolic power: :data:`mmbio.analysis.credibility.INPUT_KEYS`, e.g. from
    :func:`mmbio.sim.credibility.credibility_inputs`). Given (or for any trial of kind ``'simulated'``), the
    result carries ``credibility`` (checks with cited bands, their own verdict :attr:`ValidationResult.credible`)
    and the metrics ``credibility.whole.*``; what the simulation did not provide is n/a with the reason.

    built_from: reference datasets the validated motion was built from (e.g. a controller tracking a walk
    synthesised from ``schwartz2008``). Validating against one of them scores the motion against its own source:
    the result says so first (``trial['by_construction']``, the first note, page 1 of the report).
    """
    from mmbio.analysis.ceiling import apply_ceilings
    from mmbio.analysis.conditions import speed_condition
    from mmbio.analysis.emg import compare_emg
    from mmbio.analysis.grf import compare_grf, infer_running
    from mmbio.analysis.kinematics import compare_kinematics
    from mmbio.analysis.redundancy import inputs_from_tree, redundancy_gap
    from mmbio.analysis.spm import spm_available, spm_one_sample, spm_version
    from mmbio.analysis.synergies import synergies_from_curves
    from mmbio.errors import MmbioError, NoGaitCycleError
    from mmbio.gait.body_mass import with_estimated_mass
    from mmbio.reference.registry import get_reference, parse_spec

    name, condition = parse_spec(reference)
    ref = get_reference(name)
    trial, mass_estimate = with_estimated_mass(trial)  # body mass unknown: from the force when it can be (flagged)
    result = ValidationResult(
        trial=trial_summary(trial),
        reference={
            "name": name,
            "condition": condition,
            "title": ref.title,
            "citation": ref.citation,
            "licence": ref.licence,
        },
    )
    diverged = [n for n in trial.notes if n.startswith("diverged at")]
    if "DIVERGED" in trial.notes or diverged:
        # a simulation that blew up is analysed up to the cut, and says so first, never as if normal
        result.trial["diverged"] = True
        what = diverged[0] if diverged else ""
        if "fell:" in what:  # a controller that fell (mmbio.control): not a numerical divergence
            result.trial["fell"] = True
            result.notes.insert(0, "CONTROLLER FELL — metrics cover the trial up to the fall: " + what)
        else:
            result.notes.insert(0, "SIMULATION DIVERGED — metrics cover the trial up to the cut: " + what)
    if mass_estimate is not None:
        result.trial["subject"]["mass"].update(estimated=True, method=mass_estimate.method)
        result.notes.append(f"body mass ESTIMATED as {mass_estimate.mass_kg:.1f} kg ({mass_estimate.method}): every "
                            "value in BW rests on this estimate")  # fmt: skip
    running = infer_running(trial, name, condition)
    result.reference["activity"] = "running" if running else "walking"
    if name in set(built_from):
        result.trial["by_construction"] = (
            f"the validated motion was built from {name} itself: its kinematic fidelity against {name}:{condition} "
            "is by construction, not evidence (validate against an independent reference)"
        )
        result.notes.insert(0, "KINEMATIC FIDELITY BY CONSTRUCTION: " + result.trial["by_construction"])
    bands = speed_condition(trial, name, condition)  # the protocol's speed-dependent bands follow the trial's speed
    result.reference["band_condition"] = bands.band
    if bands.note:
        result.notes.append(bands.note)

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

    if static_opt is not None and not isinstance(static_opt, Channels):
        raise MmbioError(
            f"validate: static_opt must be Channels (StaticOptResult.activation_channels()), not {type(static_opt).__name__}"
        )
    emg_ref = _emg_reference(trial, name, condition, emg_reference, static_opt is not None)
    trial_signals = trial.activations is not None or trial.emg is not None
    if emg_ref is not None and trial_signals:
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
    elif trial_signals:
        result.notes.append(f"activation/EMG not compared: {name}:{condition} has no EMG (use --emg-reference)")
    if static_opt is not None:
        if emg_ref is None:
            result.notes.append(
                f"static optimisation not compared: {name}:{condition} has no EMG (use --emg-reference)"
            )
        else:
            _compare_static_opt(result, trial, static_opt, emg_ref, running, static_opt_source)

    for side in SIDE_WORD.values():
        kin_r, act_r, kin_c, act_c = inputs_from_tree(result.metrics, side)
        if kin_r and act_r:
            result.add("redundancy", side, "gap", redundancy_gap(kin_r, act_r, kin_c, act_c))
    if STATIC_OPT_DOMAIN in result.metrics:
        for side in SIDE_WORD.values():
            kin_r, so_r, kin_c, so_c = inputs_from_tree(result.metrics, side, emg_domain=STATIC_OPT_DOMAIN)
            if kin_r and so_r:
                result.add("redundancy", side, STATIC_OPT_GAP, redundancy_gap(kin_r, so_r, kin_c, so_c))

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
    if static_opt is not None:
        t = static_opt.time
        result.provenance["static_opt"] = {
            "source": static_opt_source or "static optimisation of the trial's kinematics (source not given)",
            "channels": len(static_opt),
            "time_s": [_finite(t[0]), _finite(t[-1])] if t.size else None,
            "compared": STATIC_OPT_DOMAIN in result.metrics,
        }
    if simulation is not None or trial.kind == "simulated":
        from mmbio.analysis.credibility import assess_credibility

        cm, checks, sources, notes = assess_credibility(
            simulation or {}, trial, running=running, grf_metrics=result.metrics.get("grf")
        )
        for var, ms in cm.items():
            result.add("credibility", "whole", var, ms)
        result.credibility = {"checks": checks, "sources": sources}
        result.notes += notes
        if simulation is None:
            result.notes.append("credibility: the simulation's own figures (residuals, reserves, contact) were not "
                                "given: those checks are n/a")  # fmt: skip
        else:
            result.provenance["credibility_inputs"] = {k: v for k, v in simulation.items() if k != "reserves"}
    if protocol is not None:
        from mmbio.report.protocol import evaluate

        evaluate(result, protocol)
        result.provenance["protocol"] = result.protocol.get("name") if result.protocol else protocol
    return result


def _compare_static_opt(
    result: ValidationResult,
    trial: Trial,
    static_opt: Channels,
    emg_ref: tuple[str, str],
    running: bool,
    source: str | None,
) -> None:
    """Static-optimisation activations vs the EMG, exactly as the trial's activations (in place).

    Adds ``result.metrics['emg_static_opt']`` (with ceilings), curves of that domain and notes.
    """
    from mmbio.analysis.ceiling import apply_ceilings
    from mmbio.analysis.emg import compare_emg

    ename, econd = emg_ref
    metrics, curves, notes = compare_emg(
        trial,
        ename,
        econd,
        normal_timing=not running,
        channels=static_opt,
        label="static-optimisation activations",
        domain=STATIC_OPT_DOMAIN,
    )
    sub = ValidationResult(trial={}, reference={})
    for side, variables in metrics.items():
        for var, ms in variables.items():
            sub.add("emg", side, var, ms)
    apply_ceilings(sub, ename, econd)
    result.metrics[STATIC_OPT_DOMAIN] = sub.metrics.get("emg", {})
    result.curves += curves
    if "emg" not in result.reference:
        from mmbio.reference.registry import get_reference

        result.reference["emg"] = {"name": ename, "condition": econd, "citation": get_reference(ename).citation}
    t = static_opt.time
    span = f"{t[0]:.3f}–{t[-1]:.3f} s" if t.size else "no samples"
    odd = sorted({u for u in static_opt.units if u not in ("1", "")})
    result.notes.append(
        f"static optimisation compared with the {ename}:{econd} EMG: {len(static_opt)} channel(s) over {span} of the "
        "trial's clock, on the trial's own gait cycles with the same metrics, ceilings and muscle map as the trial's "
        "activations; cycles compared: "
        + ", ".join(_cycle_counts(result.curves, curves, side) for side in SIDE_WORD.values())
        + (f"; unexpected unit(s) {', '.join(odd)} (activations are '1')" if odd else "")
        + f". Source: {source or 'not given'}"
    )
    if curves == [] and metrics and any(trial.events.heel_strike[s].size >= 2 for s in SIDE_WORD):
        result.notes.append(
            f"static optimisation covers no complete gait cycle of the trial (heel strike to heel strike within {span}): "
            "check that it is on the trial's clock and spans whole cycles"
        )
    for n in notes:  # what the trial's own comparison already said is not repeated; long channel lists are cut
        n = n.replace("trial static-optimisation", "static-optimisation")
        head, sep, names = n.partition(" not mapped to any EMG muscle: ")
        listed = names.split(", ")
        if sep and len(listed) > 8 and not names.endswith(" in all)"):  # compare_emg already cuts very long lists
            n = f"{head}{sep}{', '.join(listed[:6])}, … ({len(listed)} in all)"
        if n not in result.notes:
            result.notes.append(f"static optimisation: {n}")


def _cycle_counts(all_curves: list[CurvePair], so_curves: list[CurvePair], side: str) -> str:
    """``'right 2 (trial 3)'``: most cycles of any muscle, static optimisation vs the trial's activations/EMG."""

    def most(cs: list[CurvePair]) -> int:
        return max((int(c.trial_cycles.shape[0]) for c in cs if c.side == side), default=0)

    return f"{side} {most(so_curves)} (trial {most([c for c in all_curves if c.domain == 'emg'])})"
