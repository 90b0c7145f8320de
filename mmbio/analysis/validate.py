"""The validation pipeline: one trial against one reference, every metric, ceilings, SPM, protocol verdict.

``validate(trial, "schwartz2008:free", protocol="walking")`` returns a
:class:`~mmbio.analysis.result.ValidationResult`; :mod:`mmbio.report.pdf` turns it into the PDF,
``metrics.json`` and ``curves.csv``. Imports no JAX or Warp.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmbio import __version__
from mmbio.analysis.activation_sources import STATIC_OPT_KEY, ActivationSource
from mmbio.analysis.result import ValidationResult
from mmbio.provenance import git_revision
from mmbio.trial import SIDE_WORD, Channels, Trial

#: Result domain of the static-optimisation activations compared with the EMG (mirrors ``emg``).
STATIC_OPT_DOMAIN = f"emg_{STATIC_OPT_KEY}"
#: ``redundancy.<side>.<STATIC_OPT_GAP>``: the redundancy gap with the static-optimisation activations.
STATIC_OPT_GAP = STATIC_OPT_KEY


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
    activation_sources: Mapping[str, Channels | ActivationSource] | None = None,
    static_opt: Channels | None = None,
    static_opt_source: str | None = None,
    simulation: dict[str, Any] | None = None,
    built_from: Sequence[str] = (),
) -> ValidationResult:
    """Compare ``trial`` with ``reference`` (``NAME[:CONDITION]``): kinematics, GRF, activation vs EMG,
    synergies, the redundancy gap, human ceilings, SPM and (with ``protocol``) the pass/warn/fail checks.

    emg_reference: where the trial's activations or EMG are compared (default: ``reference`` when it has
    EMG). seed: NMF restarts (the only random step). Expected bad input raises :class:`MmbioError`.

    activation_sources: name → activations of other sources on the trial's clock (``Channels``, unit ``'1'``,
    MuJoCo actuator or canonical muscle names, possibly over part of the trial; or
    :class:`~mmbio.analysis.activation_sources.ActivationSource` to say where they came from), e.g. ``{"teacher":
    ..., "static optimisation": static_optimisation(...).activation_channels()}``. Each is compared with the same
    EMG reference, on the trial's own gait cycles (those it covers), with the same metrics, muscle map and ceilings
    as the trial's activations: ``emg_<key>.<side>.<muscle>.*``, curves of domain ``emg_<key>``,
    ``redundancy.<side>.<key>.*`` (the redundancy gap with its activations in place of the trial's),
    ``provenance.activation_sources.<name>`` and the side-by-side summary ``metrics.json['activation_sources']``
    (keys: :func:`~mmbio.analysis.activation_sources.source_key`). A source off the trial's clock raises
    :class:`MmbioError` naming it; one whose channels map to no reference muscle is n/a with the reason.
    Without sources the result is exactly as before.

    static_opt / static_opt_source: the same as ``activation_sources={"static optimisation":
    ActivationSource(static_opt, static_opt_source)}`` (kept for existing callers; ``provenance.static_opt`` too).

    simulation: what the simulation itself measured for the credibility checks (residuals, reserves, contact,
    joint ranges, metabolic power: :data:`mmbio.analysis.credibility.INPUT_KEYS`, e.g. from
    :func:`mmbio.sim.credibility.credibility_inputs`). Given (or for any trial of kind ``'simulated'``), the
    result carries ``credibility`` (checks with cited bands, their own verdict :attr:`ValidationResult.credible`)
    and the metrics ``credibility.whole.*``; what the simulation did not provide is n/a with the reason.

    built_from: reference datasets the validated motion was built from (e.g. a controller tracking a walk
    synthesised from ``schwartz2008``). Validating against one of them scores the motion against its own source:
    the result says so first (``trial['by_construction']``, the first note, page 1 of the report).
    """
    from mmbio.analysis.activation_sources import check_clock, compare_source, resolve_sources, summarise
    from mmbio.analysis.ceiling import apply_ceilings
    from mmbio.analysis.conditions import speed_condition
    from mmbio.analysis.emg import compare_emg
    from mmbio.analysis.grf import compare_grf, infer_running
    from mmbio.analysis.kinematics import compare_kinematics
    from mmbio.analysis.redundancy import inputs_from_tree, redundancy_gap
    from mmbio.analysis.spm import spm_available, spm_one_sample, spm_version
    from mmbio.analysis.synergies import synergies_from_curves
    from mmbio.errors import NoGaitCycleError
    from mmbio.gait.body_mass import with_estimated_mass
    from mmbio.reference.registry import (
        get_reference,
        left_out_subject,
        parse_spec,
        reference_subjects,
        split_condition,
    )

    sources = resolve_sources(activation_sources, static_opt, static_opt_source)  # bad sources fail first
    for src in sources:
        check_clock(trial, src)
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
    base, subject = split_condition(condition)
    out_of = left_out_subject(subject)
    if out_of is not None:  # the condition without the trial's own subject
        n = len(reference_subjects(name, base)) - 1
        result.reference["left_out_subject"] = out_of
        result.reference["description"] = (
            f"{name}:{base} without subject {out_of} (the trial's own): mean ± SD of the other {n} subjects; "
            f"ceilings leave-one-subject-out over them; scalar bands: all of {base}"
        )
        result.notes.insert(0, "REFERENCE WITHOUT THE TRIAL'S OWN SUBJECT: " + result.reference["description"])
    elif subject is not None:  # one subject's own curves as the reference
        others = len(reference_subjects(name, base)) - 1
        result.reference["subject"] = subject
        result.reference["description"] = (
            f"SUBJECT-SPECIFIC: subject {subject}'s own mean cycles of {name}:{base} (no SD band: one person); "
            f"human ceilings: the other {others} subjects against this subject; scalar bands: {base}'s population"
        )
        result.notes.insert(0, result.reference["description"])
    if name in set(built_from):
        result.trial["by_construction"] = (
            f"the validated motion was built from {name} itself: its kinematic fidelity against {name}:{condition} "
            "is by construction, not evidence (validate against an independent reference)"
        )
        if subject is not None:
            result.trial["by_construction"] = (
                f"the motion was built from subject {subject}'s own trial ({name}): kinematic fidelity against that "
                "subject is by construction, not evidence; the activations never saw the subject's EMG"
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

    emg_ref = _emg_reference(trial, name, condition, emg_reference, bool(sources))
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
    for src in sources:
        if emg_ref is None:
            result.notes.append(f"{src.name} not compared: {name}:{condition} has no EMG (use --emg-reference)")
        else:
            compare_source(result, trial, src, emg_ref, running)

    for side in SIDE_WORD.values():
        kin_r, act_r, kin_c, act_c = inputs_from_tree(result.metrics, side)
        if kin_r and act_r:
            result.add("redundancy", side, "gap", redundancy_gap(kin_r, act_r, kin_c, act_c))
    for src in sources:
        if src.domain not in result.metrics:
            continue
        for side in SIDE_WORD.values():
            kin_r, src_r, kin_c, src_c = inputs_from_tree(result.metrics, side, emg_domain=src.domain)
            if kin_r and src_r:
                result.add("redundancy", side, src.key, redundancy_gap(kin_r, src_r, kin_c, src_c))

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
    if sources:
        prov = {
            src.name: {
                "source": src.description or "not given",
                "channels": len(src.channels),
                "time_s": [_finite(src.channels.time[0]), _finite(src.channels.time[-1])],
                "compared": emg_ref is not None,
            }
            for src in sources
        }
        result.provenance["activation_sources"] = prov
        for src in sources:
            if src.key == STATIC_OPT_KEY:  # the former layout, for existing readers
                so = dict(prov[src.name])
                if not src.description:
                    so["source"] = "static optimisation of the trial's kinematics (source not given)"
                result.provenance["static_opt"] = so
        own = None
        if trial_signals and "emg" in result.metrics:
            own = "trial activations" if trial.activations is not None else "trial EMG"
        result.activation_sources = summarise(result, sources, own)
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
