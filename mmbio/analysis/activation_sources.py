"""Several named activation sources compared with the same EMG on the trial's own gait cycles.

Many muscle patterns produce the same motion, so the activations of one controller are one answer among many.
``validate(trial, ..., activation_sources={"teacher": channels, "static optimisation": ...})`` compares every
named source — a teacher controller, a static optimisation of the same motion, another policy — with the EMG
reference exactly as the trial's own activations are compared (same metrics, muscle map, gait cycles and human
ceilings), and the report and ``metrics.json`` put them side by side with the human ceiling.

Keys. A source named ``NAME`` gets the key :func:`source_key` (``NAME`` lower-cased, every run of other
characters → ``_``; ``"static optimisation"`` → ``static_opt``, the key of the former ``static_opt=`` argument,
so both spellings give the same keys). Its metrics sit at ``emg_<key>.<side>.<muscle>.*``, its curves in the
domain ``emg_<key>``, its redundancy gap at ``redundancy.<side>.<key>.*``, its provenance at
``provenance.activation_sources.<NAME>``, and :func:`summarise` gathers the side-by-side view
(``metrics.json['activation_sources']``, ``docs/metrics_schema.md``).

Clock. A source must be on the trial's clock: its samples lie inside the trial's recorded time span (a part of it
is fine: only the gait cycles it covers in full are compared). A source outside that span is refused with
:class:`~mmbio.errors.MmbioError` naming it; a source on the clock whose channels map to no muscle of the EMG
reference is kept and reported n/a with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmbio.analysis.result import CurvePair, Metric, ValidationResult
from mmbio.errors import MmbioError
from mmbio.trial import SIDE_WORD, Channels, Trial

#: The name the former ``validate(static_opt=...)`` argument is compared under, and its key.
STATIC_OPT_NAME = "static optimisation"
STATIC_OPT_KEY = "static_opt"
#: Names whose key is not the plain slug (kept so that metrics.json keys do not change).
KNOWN_KEYS: dict[str, str] = {STATIC_OPT_NAME: STATIC_OPT_KEY}
#: Keys a source cannot take: ``redundancy.<side>.gap`` is the trial's own gap.
RESERVED_KEYS = frozenset({"gap"})


@dataclass(frozen=True)
class ActivationSource:
    """Activations of one source and where they came from (a value of ``validate(activation_sources=...)``).

    channels: activations, unit ``'1'``, MuJoCo actuator names (``tibant_r``) or canonical muscle names
    (``tibialis_anterior_r``); time (n,) s on the trial's clock, possibly over part of it.
    description: where they came from (e.g. ``StaticOptResult.summary()``), for the notes and the provenance.
    """

    channels: Channels
    description: str = ""


@dataclass(frozen=True)
class NamedSource:
    """One resolved source: its display name, metric key, activations and description."""

    name: str
    key: str
    channels: Channels
    description: str = ""

    @property
    def domain(self) -> str:
        """Metric domain and curve domain of this source: ``emg_<key>``."""
        return f"emg_{self.key}"

    @property
    def label(self) -> str:
        """What its activations are called in reasons (``'teacher activations'``)."""
        return "static-optimisation activations" if self.key == STATIC_OPT_KEY else f"{self.name} activations"


def source_key(name: str) -> str:
    """Metric key of a source name: ``'Teacher (CMC)'`` → ``'teacher_cmc'``; ``'static optimisation'`` → ``'static_opt'``."""
    if name in KNOWN_KEYS:
        return KNOWN_KEYS[name]
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def resolve_sources(
    sources: Mapping[str, Channels | ActivationSource] | None,
    static_opt: Channels | None = None,
    static_opt_source: str | None = None,
) -> list[NamedSource]:
    """The named sources of one ``validate`` call, in the given order (the legacy ``static_opt`` last).

    Raises :class:`MmbioError` for a value that is not activations, an empty or reserved name, two names with
    the same key, or a static optimisation given both ways.
    """
    out: list[NamedSource] = []
    if sources is not None and not isinstance(sources, Mapping):
        raise MmbioError(f"validate: activation_sources must map names to Channels, not {type(sources).__name__}")
    for name, value in (sources or {}).items():
        if not isinstance(name, str) or not name.strip():
            raise MmbioError(f"validate: activation source names must be non-empty text, not {name!r}")
        if isinstance(value, ActivationSource):
            ch, desc = value.channels, value.description
        else:
            ch, desc = value, ""
        if not isinstance(ch, Channels):
            raise MmbioError(
                f"validate: activation source {name!r} must be Channels or ActivationSource, not {type(ch).__name__}"
            )
        out.append(NamedSource(name, source_key(name), ch, desc))
    if static_opt is not None:
        if not isinstance(static_opt, Channels):
            raise MmbioError(
                "validate: static_opt must be Channels (StaticOptResult.activation_channels()), "
                f"not {type(static_opt).__name__}"
            )
        if any(s.key == STATIC_OPT_KEY for s in out):
            raise MmbioError(f"validate: the {STATIC_OPT_NAME} is given twice (static_opt= and activation_sources)")
        out.append(NamedSource(STATIC_OPT_NAME, STATIC_OPT_KEY, static_opt, static_opt_source or ""))
    seen: dict[str, str] = {}
    for s in out:
        if not s.key or s.key in RESERVED_KEYS:
            raise MmbioError(f"validate: activation source name {s.name!r} is reserved or has no letters or digits")
        if s.key in seen:
            raise MmbioError(f"validate: activation sources {seen[s.key]!r} and {s.name!r} share the key {s.key!r}")
        seen[s.key] = s.name
    return out


def sources_from_files(specs: list[str], taken: set[str] | frozenset[str] = frozenset()) -> dict[str, ActivationSource]:
    """``NAME=FILE.sto`` values (``mmbio validate --source``) → named sources read as OpenSim activations
    (:func:`mmbio.io.opensim.read_opensim_activations`). A malformed value, a name given twice or already in
    ``taken``, or a missing file is one line (:class:`MmbioError` / :class:`~mmbio.errors.DataFileError`)."""
    from pathlib import Path

    from mmbio.errors import DataFileError
    from mmbio.io.opensim import read_opensim_activations

    out: dict[str, ActivationSource] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise MmbioError(f"--source {spec!r}: expected NAME=FILE.sto (e.g. teacher=teacher_activations.sto)")
        if name in taken or name in out:
            raise MmbioError(f"--source {name!r}: that source is named twice")
        p = Path(path)
        if not p.is_file():
            raise DataFileError(p, f"no such file (--source {name})")
        out[name] = ActivationSource(read_opensim_activations(p), f"activations read from {p.name} (--source)")
    return out


def trial_span(trial: Trial) -> tuple[float, float] | None:
    """First and last sample time (s) over the trial's signal groups, ``None`` when it has none."""
    times = [g.time for g in (trial.angles, trial.activations, trial.emg) if g is not None and g.time.size]
    times += [g.time for g in trial.grf.values() if g.time.size]
    if not times:
        return None
    return float(min(t[0] for t in times)), float(max(t[-1] for t in times))


def check_clock(trial: Trial, source: NamedSource) -> None:
    """Refuse (one-line :class:`MmbioError` naming the source) activations that are not on the trial's clock.

    On the clock: at least 2 samples, all inside the trial's recorded span within one of the source's sample
    periods. Not checked when the trial has no signal at all.
    """
    t = source.channels.time
    if t.size < 2:
        raise MmbioError(f"activation source {source.name!r}: {t.size} sample(s); needs a time series")
    span = trial_span(trial)
    if span is None:
        return
    tol = max(float(np.median(np.diff(t))), 1e-6)
    if t[0] < span[0] - tol or t[-1] > span[1] + tol:
        raise MmbioError(
            f"activation source {source.name!r}: time {t[0]:.3f}–{t[-1]:.3f} s is not on the trial's clock "
            f"({span[0]:.3f}–{span[1]:.3f} s); give its activations on the trial's time base (a part of it is fine)"
        )


def compare_source(
    result: ValidationResult, trial: Trial, source: NamedSource, emg_ref: tuple[str, str], running: bool
) -> None:
    """One source's activations vs the EMG, exactly as the trial's activations (in place).

    Adds ``result.metrics[source.domain]`` (with human ceilings), curves of that domain and notes that start
    with the source's name.
    """
    from mmbio.analysis.ceiling import apply_ceilings
    from mmbio.analysis.emg import compare_emg

    ename, econd = emg_ref
    ch = source.channels
    metrics, curves, notes = compare_emg(
        trial, ename, econd, normal_timing=not running, channels=ch, label=source.label, domain=source.domain
    )
    sub = ValidationResult(trial={}, reference={})
    for side, variables in metrics.items():
        for var, ms in variables.items():
            sub.add("emg", side, var, ms)
    apply_ceilings(sub, ename, econd)
    if sub.metrics.get("emg"):
        result.metrics[source.domain] = sub.metrics["emg"]
    result.curves += curves
    if "emg" not in result.reference:
        from mmbio.reference.registry import get_reference

        result.reference["emg"] = {"name": ename, "condition": econd, "citation": get_reference(ename).citation}
    t = ch.time
    span = f"{t[0]:.3f}–{t[-1]:.3f} s"
    odd = sorted({u for u in ch.units if u not in ("1", "")})
    result.notes.append(
        f"{source.name} compared with the {ename}:{econd} EMG: {len(ch)} channel(s) over {span} of the "
        "trial's clock, on the trial's own gait cycles with the same metrics, ceilings and muscle map as the trial's "
        "activations; cycles compared: "
        + ", ".join(_cycle_counts(result.curves, curves, side) for side in SIDE_WORD.values())
        + (f"; unexpected unit(s) {', '.join(odd)} (activations are '1')" if odd else "")
        + f". Source: {source.description or 'not given'}"
    )
    if curves == [] and metrics and any(trial.events.heel_strike[s].size >= 2 for s in SIDE_WORD):
        result.notes.append(
            f"{source.name} covers no complete gait cycle of the trial (heel strike to heel strike within {span}): "
            "check that it spans whole cycles"
        )
    for n in notes:  # what the trial's own comparison already said is not repeated; long channel lists are cut
        n = n.replace(f"trial {source.label}", source.label)
        head, sep, names = n.partition(" not mapped to any EMG muscle: ")
        listed = names.split(", ")
        if sep and len(listed) > 8 and not names.endswith(" in all)"):  # compare_emg already cuts very long lists
            n = f"{head}{sep}{', '.join(listed[:6])}, … ({len(listed)} in all)"
        if n not in result.notes:
            result.notes.append(f"{source.name}: {n}")


def _cycle_counts(all_curves: list[CurvePair], src_curves: list[CurvePair], side: str) -> str:
    """``'right 2 (trial 3)'``: most cycles of any muscle, the source vs the trial's activations/EMG."""

    def most(cs: list[CurvePair]) -> int:
        return max((int(c.trial_cycles.shape[0]) for c in cs if c.side == side), default=0)

    return f"{side} {most(src_curves)} (trial {most([c for c in all_curves if c.domain == 'emg'])})"


# --------------------------------------------------------------------------------------------------
# the side-by-side summary of metrics.json
# --------------------------------------------------------------------------------------------------

#: redundancy-gap entries copied into each source's summary, per side.
GAP_KEYS = ("activation_fidelity", "activation_fidelity_rel", "gap", "gap_rel", "n_muscles", "n_muscles_na")


def _brief(m: Metric) -> dict[str, Any]:
    """``{"value", "units"}`` (+ ``reason`` when n/a) of a metric, without cycles or ceiling."""
    d: dict[str, Any] = {"value": float(m.value) if m.available else None, "units": m.units}
    if not m.available:
        d["reason"] = m.reason or "not available"
    return d


def median_r(rs: Mapping[str, float | None], what: str) -> dict[str, Any]:
    """Median over the available values of ``rs`` (muscle → r or ``None``): ``{"value", "units", "n"}``."""
    ok = [float(v) for v in rs.values() if v is not None and np.isfinite(v)]
    if not ok:
        why = f"no {what} available ({len(rs)} n/a)" if rs else f"no {what} compared"
        return {"value": None, "units": "1", "n": 0, "reason": why}
    return {"value": float(np.median(ok)), "units": "1", "n": len(ok)}


def _column(result: ValidationResult, domain: str, gap_key: str) -> dict[str, Any]:
    """Per side: r per muscle (``None`` = n/a, its reason in ``reasons``), median r and the redundancy gap."""
    sides: dict[str, Any] = {}
    for side, muscles in result.metrics.get(domain, {}).items():
        rs = {mus: ms["r"] for mus, ms in muscles.items() if "r" in ms}
        col: dict[str, Any] = {"r": {mus: float(m.value) if m.available else None for mus, m in rs.items()}}
        reasons = {mus: m.reason or "not available" for mus, m in rs.items() if not m.available}
        if reasons:
            col["reasons"] = reasons
        col["median_r"] = median_r(col["r"], "muscle r")
        gap = result.metrics.get("redundancy", {}).get(side, {}).get(gap_key, {})
        col.update({k: _brief(gap[k]) for k in GAP_KEYS if k in gap})
        sides[side] = col
    return sides


def summarise(result: ValidationResult, sources: list[NamedSource], trial_label: str | None) -> dict[str, Any]:
    """The side-by-side view of ``metrics.json['activation_sources']`` (layout in ``docs/metrics_schema.md``).

    trial_label: what the trial's own activations are (``'trial activations'``, ``'trial EMG'``), ``None`` when
    the trial has none. Numbers are read from ``result.metrics`` (nothing is recomputed).
    """
    eref = (result.reference or {}).get("emg") or {}
    out: dict[str, Any] = {
        "emg_reference": f"{eref['name']}:{eref['condition']}" if eref.get("name") else None,
    }
    if trial_label is not None and "emg" in result.metrics:
        out["trial"] = {
            "label": trial_label,
            "domain": "emg",
            "redundancy": "gap",
            "sides": _column(result, "emg", "gap"),
        }
    entries: dict[str, Any] = {}
    for s in sources:
        entry: dict[str, Any] = {"key": s.key, "domain": s.domain, "redundancy": s.key}
        cols = _column(result, s.domain, s.key)
        entry["compared"] = bool(cols)
        if not cols:
            entry["reason"] = _why_not(result, s)
        entry["sides"] = cols
        entries[s.name] = entry
    out["sources"] = entries
    ceil: dict[str, Any] = {}  # over the muscles that at least one activation set has an r for
    domains = ["emg", *(s.domain for s in sources)]
    for domain in domains:
        for side, muscles in result.metrics.get(domain, {}).items():
            got = ceil.setdefault(side, {})
            for mus, ms in muscles.items():
                c = ms["r"].ceiling if "r" in ms else None
                compared = any(
                    (m := result.metrics.get(d, {}).get(side, {}).get(mus, {}).get("r")) is not None and m.available
                    for d in domains
                )
                if c is not None and np.isfinite(c) and compared:
                    got.setdefault(mus, float(c))
    out["human_ceiling"] = {"sides": {s: {"r": r, "median_r": median_r(r, "human ceiling")} for s, r in ceil.items()}}
    kin = {}
    for side, gaps in result.metrics.get("redundancy", {}).items():
        g = next(iter(gaps.values()), {})
        kin[side] = {k: _brief(g[k]) for k in ("kinematic_fidelity", "kinematic_fidelity_rel") if k in g}
    out["kinematics"] = kin
    return out


def _why_not(result: ValidationResult, source: NamedSource) -> str:
    """Why a source has no metric: no EMG reference, or none of its channels maps to a reference muscle."""
    if "emg" not in (result.reference or {}):
        return "not compared: the reference has no EMG (use --emg-reference)"
    eref = result.reference["emg"]
    names = source.channels.names
    shown = ", ".join(names[:6]) + (f", … ({len(names)} in all)" if len(names) > 6 else "")
    return (
        f"none of its {len(names)} channel(s) maps to a muscle of the {eref['name']}:{eref['condition']} EMG "
        f"({shown}; names: MuJoCo actuators such as tibant_r or canonical muscles such as tibialis_anterior_r)"
    )
