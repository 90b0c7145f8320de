"""Validation protocols: which reference, which variables, and pass / warn / fail thresholds per metric.

A protocol is a YAML file (``validation/walking.yaml``)::

    name: walking
    description: healthy adult overground walking at a self-selected speed
    reference: schwartz2008:free          # NAME[:CONDITION], the default reference of the protocol
    simulated_reference: schreiber2019    # optional: the default NAME for simulated (adult-model) trials, at the
                                          # condition nearest the trial's speed
    variables:                            # what the pipeline compares (informative for the report)
      sides: [right, left]
      kinematics: [hip_flexion, knee_flexion, ankle_dorsiflexion]
      grf: [vertical, ap]
      emg: [tibialis_anterior, soleus]
    checks:
      - metric: kinematics.*.knee_flexion.r    # domain.side.variable.name; fnmatch wildcards per part
        pass: {op: '>=', value: 0.9}
        warn: {op: '>=', value: 0.8}           # optional; anything else fails
        required: false                        # optional; a missing / n/a metric is then 'n/a', not 'fail'

Rule operators: ``>=``, ``>``, ``<=``, ``<``, ``==``, ``!=``, ``abs<=`` (``|x| ≤ value``),
``between`` (``value: [lo, hi]``, inclusive), ``within`` (``|x − of| ≤ value``; ``of`` is a number or
a metric path whose wildcards take the matched parts of the checked metric, e.g. the reference's peak) and
``within_pi`` (``value`` a coverage such as 0.95, ``of`` a scalar of the reference, e.g.
``grf_vertical_max``): ``x`` lies in the reference's between-subject *prediction interval* for one new
subject, ``mean ± t(n−1, (1+value)/2) · SD · √(1 + 1/n)`` (the normal quantile when ``n`` is not given),
with mean, SD and n of that scalar at the trial's condition — the result's ``reference.band_condition``
(the reference condition nearest the trial's speed, :mod:`mmbio.analysis.conditions`), else the condition
compared — on the checked metric's side, else ``both``. A band therefore follows the condition and widens
honestly when the reference has few subjects (n = 5: ±3.0 SD at 95 %; n = 82: ±2.0 SD).

Statuses: ``pass``, else ``warn`` (warn rule), else ``fail``. A metric whose value is not available (n/a,
with its reason) is ``n/a``, never ``fail``, and so is a check whose reference band is not available; a
metric the result does not contain at all fails when ``required`` (the default). When required checks are
n/a the result's notes say how many: the verdict covers only what could be judged.

Protocol files are found in ``$MMBIO_VALIDATION_DIR`` if set, else the package data
``mmbio._data.validation`` (installed wheel), else ``<repo>/validation`` (source checkout).

Threat model / what is checked. A protocol named with ``--protocol`` is untrusted input. It is read by
:func:`mmbio.io.yaml_safe.load_yaml` (size, expanded-node, depth, alias, tag and duplicate-key limits: a 600-byte
"billion laughs" file is refused instead of taking gigabytes), then checked field by field: only the keys above
(a misspelt ``requried:`` would otherwise be ignored silently), strings where strings go (at most
:data:`MAX_FIELD_CHARS`), ``required`` a real boolean, thresholds real numbers (not ``yes``), finite and within
±:data:`MAX_THRESHOLD`, ``between`` with lo ≤ hi, ``variables`` a mapping of strings, numbers or lists of them.
Each problem is one :class:`~mmbio.errors.DataFileError` naming the file and the field.
"""

from __future__ import annotations

import math
import os
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from mmbio.analysis.result import Metric, ValidationResult
from mmbio.errors import DataFileError, MmbioError, printable
from mmbio.io.yaml_safe import load_yaml

ENV_VAR = "MMBIO_VALIDATION_DIR"
OPS: tuple[str, ...] = (">=", ">", "<=", "<", "==", "!=", "abs<=", "between", "within", "within_pi")
STATUSES: tuple[str, ...] = ("pass", "warn", "fail", "n/a")
_SYMBOL = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "=", "!=": "≠"}


def protocols_dir() -> Path:
    """The folder holding the shipped ``*.yaml`` protocols."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    try:  # installed wheel: package data (namespace package → search locations)
        from importlib.util import find_spec

        spec = find_spec("mmbio._data.validation")
        for loc in (spec.submodule_search_locations or []) if spec else []:
            if Path(loc).is_dir() and any(Path(loc).glob("*.yaml")):
                return Path(loc)
    except (ImportError, ValueError):
        pass
    import mmbio

    return Path(mmbio.__file__).resolve().parents[1] / "validation"


def list_protocols() -> list[str]:
    """Names of the shipped protocols (file stems), sorted."""
    d = protocols_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


@dataclass(frozen=True)
class Rule:
    """One comparison: ``op`` with ``value`` (number, or ``[lo, hi]`` for ``between``), ``of`` for ``within``."""

    op: str
    value: Any
    of: float | str | None = None

    def text(self) -> str:
        """Human-readable form, e.g. ``≥ 0.9`` or ``within ±0.15 of 1.1``."""
        if self.op == "between":
            lo, hi = self.value
            return f"{_g(lo)}–{_g(hi)}"
        if self.op == "abs<=":
            return f"|x| ≤ {_g(self.value)}"
        if self.op == "within":
            if isinstance(self.of, str):
                return f"±{_g(self.value)} of {'.'.join(p for p in self.of.split('.') if '*' not in p)}"
            return f"{_g(self.of)} ± {_g(self.value)}"
        if self.op == "within_pi":
            return f"within the {100 * float(self.value):g} % prediction interval of the reference's {self.of}"
        return f"{_SYMBOL[self.op]} {_g(self.value)}"


@dataclass(frozen=True)
class Check:
    """A check of the protocol; ``metric`` may hold wildcards."""

    metric: str
    pass_rule: Rule
    warn_rule: Rule | None = None
    required: bool = True
    label: str = ""

    def rule_text(self) -> str:
        t = f"pass {self.pass_rule.text()}"
        if self.warn_rule is not None:
            t += f"; warn {self.warn_rule.text()}"
        return t


@dataclass(frozen=True)
class Protocol:
    """A parsed protocol file."""

    name: str
    description: str
    reference: str
    checks: list[Check]
    variables: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    #: the default reference NAME for simulated trials (adult models) when no reference is asked, at the condition
    #: nearest the trial's speed; "" = ``reference`` for every trial
    simulated_reference: str = ""

    def summary(self) -> dict[str, Any]:
        """What goes into ``result.protocol`` / metrics.json."""
        return {
            "name": self.name,
            "description": self.description,
            "reference": self.reference,
            "file": Path(self.path).name if self.path else "",
            "variables": self.variables,
        }


def _g(x: Any) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int | float):
        return f"{float(x):.4g}"
    return str(x)


# --------------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------------

#: The keys a protocol may have, at the top, in a check and in a rule: anything else is a typo to report.
TOP_KEYS = ("name", "description", "reference", "simulated_reference", "variables", "checks")
CHECK_KEYS = ("metric", "pass", "warn", "required", "label")
RULE_KEYS = ("op", "value", "of")
#: A reference scalar's name (``within_pi``'s ``of``).
SCALAR_NAME = re.compile(r"[A-Za-z0-9_]{1,100}")
#: metrics.json side words → reference sides
SIDE_CODES = {"right": "r", "left": "l"}
#: Largest |threshold| (metrics are correlations, degrees, body weights, seconds, per cent).
MAX_THRESHOLD = 1e6
#: Longest name, reference, metric path or label; and description.
MAX_FIELD_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000


def load_protocol(name_or_path: str | os.PathLike[str]) -> Protocol:
    """A protocol by shipped name (``walking``) or by path to a YAML file; :class:`MmbioError` otherwise.

    The file is read with :func:`mmbio.io.yaml_safe.load_yaml` (size, node, depth and alias limits) and
    checked field by field by :func:`parse_protocol`: every problem is one :class:`DataFileError` naming the
    file and the field.
    """
    s = str(name_or_path)
    p = Path(s)
    looks_like_path = p.suffix in (".yaml", ".yml") or os.sep in s or "/" in s
    if not looks_like_path:
        p = protocols_dir() / f"{s}.yaml"
        if not p.is_file():
            have = ", ".join(list_protocols()) or f"(none found in {protocols_dir()})"
            raise MmbioError(f"unknown validation protocol {printable(s, 100)!r}; choose from: {have}")
    elif not p.is_file():
        raise DataFileError(p, "protocol file not found")
    return parse_protocol(load_yaml(p, mapping=False), source=str(p))


def _type(v: Any) -> str:
    return "a list" if isinstance(v, list) else "a mapping" if isinstance(v, Mapping) else f"{reprlib.repr(v)}"


def parse_protocol(doc: Any, source: str = "<protocol>") -> Protocol:
    """A :class:`Protocol` from the mapping of a YAML document; errors (:class:`DataFileError`) name ``source``
    and the field."""

    def bad(problem: str) -> DataFileError:
        return DataFileError(source, problem)

    def text(v: Any, field_: str, limit: int = MAX_FIELD_CHARS) -> str:
        if not isinstance(v, str):
            raise bad(f"{field_!r} must be a string, got {_type(v)}")
        if len(v) > limit:
            raise bad(f"{field_!r} is {len(v):,} characters long (at most {limit:,})")
        return v

    if not isinstance(doc, Mapping):
        raise bad("a protocol must be a mapping with name, reference and checks")
    _known_keys(doc, TOP_KEYS, "the protocol", bad)
    name = text(doc["name"], "name") if doc.get("name") is not None else Path(source).stem
    description = text(doc.get("description") or "", "description", MAX_DESCRIPTION_CHARS)
    reference = text(doc.get("reference") or "", "reference")
    simulated_reference = text(doc.get("simulated_reference") or "", "simulated_reference")
    raw_checks = doc.get("checks")
    if not isinstance(raw_checks, list) or not raw_checks:
        raise bad("'checks' must be a non-empty list")
    checks: list[Check] = []
    for i, c in enumerate(raw_checks, 1):
        if not isinstance(c, Mapping) or "metric" not in c or "pass" not in c:
            raise bad(f"check {i} needs 'metric' and 'pass'")
        _known_keys(c, CHECK_KEYS, f"check {i}", bad)
        metric = text(c["metric"], f"checks[{i}].metric")
        if len(metric.split(".")) != 4 or not all(metric.split(".")):
            raise bad(f"check {i}: metric must be domain.side.variable.name, got {metric!r}")
        pr = _rule(c["pass"], f"check {i} ({metric}) pass", bad)
        wr = _rule(c["warn"], f"check {i} ({metric}) warn", bad) if c.get("warn") is not None else None
        required = c.get("required", True)
        if not isinstance(required, bool):
            raise bad(f"check {i} ({metric}): 'required' must be true or false, got {_type(required)}")
        label = text(c.get("label", ""), f"checks[{i}].label")
        checks.append(Check(metric, pr, wr, required, label))
    variables = doc.get("variables") or {}
    if not isinstance(variables, Mapping):
        raise bad("'variables' must be a mapping")
    for key, v in variables.items():
        if not isinstance(key, str):
            raise bad(f"'variables' keys must be strings, got {_type(key)}")
        for item in v if isinstance(v, list) else [v]:
            if not (item is None or isinstance(item, str | bool) or _is_num(item, limit=math.inf)):
                raise bad(
                    f"'variables.{printable(key, 60)}' must be a string, a number or a list of them, got {_type(item)}"
                )
    return Protocol(
        name=name,
        description=" ".join(description.split()),
        reference=reference,
        checks=checks,
        variables=dict(variables),
        path=source,
        simulated_reference=simulated_reference,
    )


def _known_keys(m: Mapping, allowed: tuple[str, ...], where: str, bad: Any) -> None:
    unknown = [k for k in m if k not in allowed]
    if unknown:
        raise bad(f"{where}: unknown key {reprlib.repr(unknown[0])}; expected: {', '.join(allowed)}")


def _rule(raw: Any, what: str, bad: Any) -> Rule:
    if not isinstance(raw, Mapping) or "op" not in raw or "value" not in raw:
        raise bad(f"{what}: a rule needs 'op' and 'value'")
    _known_keys(raw, RULE_KEYS, what, bad)
    op = raw["op"]
    if not isinstance(op, str) or op not in OPS:
        raise bad(f"{what}: unknown op {reprlib.repr(op)}; choose from: {', '.join(OPS)}")
    value = raw["value"]
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(_is_num(v) for v in value)):
            raise bad(f"{what}: 'between' needs value: [lo, hi], two numbers within ±{MAX_THRESHOLD:g}")
        value = [float(value[0]), float(value[1])]
        if value[0] > value[1]:
            raise bad(f"{what}: 'between' needs lo ≤ hi, got [{value[0]:g}, {value[1]:g}]")
    elif not _is_num(value):
        raise bad(f"{what}: value must be a finite number within ±{MAX_THRESHOLD:g}, got {_type(value)}")
    else:
        value = float(value)
        if op in ("abs<=", "within") and value < 0:
            raise bad(f"{what}: {op!r} needs a value ≥ 0, got {value:g}")
    of = raw.get("of")
    if op == "within_pi":
        if not 0.0 < float(value) < 1.0:
            raise bad(f"{what}: 'within_pi' needs a coverage value between 0 and 1 (e.g. 0.95), got {value:g}")
        if not (isinstance(of, str) and SCALAR_NAME.fullmatch(of)):
            raise bad(f"{what}: 'within_pi' needs of: the name of a reference scalar (letters, digits, '_')")
        return Rule(op, value, of)
    if op == "within":
        if of is None or not (
            _is_num(of) or (isinstance(of, str) and len(of) <= MAX_FIELD_CHARS and len(of.split(".")) == 4)
        ):
            raise bad(f"{what}: 'within' needs of: a number or a metric path domain.side.variable.name")
        of = float(of) if _is_num(of) else str(of)
    elif of is not None:
        raise bad(f"{what}: 'of' is for the 'within' op only")
    return Rule(op, value, of)


def _is_num(v: Any, limit: float = MAX_THRESHOLD) -> bool:
    """A real number (not a bool: YAML reads ``yes`` as true), finite and within ±``limit``."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    if isinstance(v, int):
        return limit == math.inf or abs(v) <= limit  # no float(): a 400-digit int would overflow
    return math.isfinite(v) and abs(v) <= limit


# --------------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------------


def _expand(result: ValidationResult, pattern: str) -> list[tuple[list[str], Metric]]:
    d, s, v, n = pattern.split(".")
    out = []
    for dk, sides in result.metrics.items():
        if not fnmatchcase(dk, d):
            continue
        for sk, vs in sides.items():
            if not fnmatchcase(sk, s):
                continue
            for vk, ms in vs.items():
                if not fnmatchcase(vk, v):
                    continue
                for nk, m in ms.items():
                    if fnmatchcase(nk, n):
                        out.append(([dk, sk, vk, nk], m))
    return out


def _fill(path: str, parts: list[str]) -> str:
    """Replace wildcard parts of ``path`` with the matched parts of the checked metric."""
    return ".".join(parts[i] if any(ch in p for ch in "*?[") else p for i, p in enumerate(path.split(".")))


@dataclass(frozen=True)
class Band:
    """A reference's prediction interval ``[lo, hi]`` for one scalar, and how it was made (for the rule text)."""

    lo: float
    hi: float
    text: str


def reference_band(result: ValidationResult, variable: str, side: str, coverage: float) -> Band | str:
    """The ``coverage`` prediction interval of reference scalar ``variable`` (module doc), or why there is none."""
    from scipy import stats

    from mmbio.reference.registry import load_scalars

    ref = result.reference or {}
    name = str(ref.get("name", ""))
    cond = str(ref.get("band_condition") or ref.get("condition") or "")
    try:
        sc = load_scalars(name, cond or None)
    except MmbioError as e:
        return f"reference band not available: {e}"
    rows = sc.iloc[0:0]
    for s in (SIDE_CODES.get(side, side), "both"):
        rows = sc[(sc.variable == variable) & (sc.side == s)]
        if len(rows):
            break
    if not len(rows):
        return f"{name}:{cond} has no {variable} scalar to set a band"
    row = rows.iloc[0]
    mean, sd = float(row["mean"]), float(row["sd"])
    n = float(row["n"]) if row["n"] is not None and str(row["n"]).strip() != "" else math.nan
    if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
        return f"{name}:{cond} gives no between-subject SD of {variable} (n = {_g(n)}): no band"
    q = (1.0 + coverage) / 2.0
    if math.isfinite(n):
        if n < 2:
            return f"{name}:{cond} {variable} comes from {n:g} subject: no between-subject band"
        half = float(stats.t.ppf(q, n - 1)) * sd * math.sqrt(1.0 + 1.0 / n)
        how = f"t, n {n:g}"
    else:
        half = float(stats.norm.ppf(q)) * sd
        how = "n not given: normal quantile"
    text = (
        f"{_g(mean - half)}–{_g(mean + half)} ({100 * coverage:g} % PI of {name}:{cond} {variable} "
        f"{_g(mean)} ± {_g(sd)} SD, {how})"
    )
    return Band(mean - half, mean + half, text)


def _apply(rule: Rule, x: float, result: ValidationResult, parts: list[str]) -> tuple[bool | None, str]:
    """``(True/False, '')``; ``(None, reason)`` when the rule's reference value or band is not available."""
    op, v = rule.op, rule.value
    if op == ">=":
        return x >= v, ""
    if op == ">":
        return x > v, ""
    if op == "<=":
        return x <= v, ""
    if op == "<":
        return x < v, ""
    if op == "==":
        return math.isclose(x, v, abs_tol=1e-9), ""
    if op == "!=":
        return not math.isclose(x, v, abs_tol=1e-9), ""
    if op == "abs<=":
        return abs(x) <= v, ""
    if op == "between":
        return v[0] <= x <= v[1], ""
    if op == "within_pi":
        band = reference_band(result, str(rule.of), parts[1], float(v))
        if isinstance(band, str):
            return None, band
        return band.lo - 1e-12 <= x <= band.hi + 1e-12, ""
    # within
    if isinstance(rule.of, str):
        ref = result.get(_fill(rule.of, parts))
        if ref is None or not ref.available:
            return None, "the rule's reference value is not available"
        center = float(ref.value)
    else:
        center = float(rule.of)  # type: ignore[arg-type]
    return abs(x - center) <= v + 1e-12, ""


def _resolved_text(rule: Rule, result: ValidationResult, parts: list[str]) -> str:
    """``rule.text()`` with a metric-path ``of`` or a reference band replaced by its value (when available)."""
    if rule.op == "within_pi":
        band = reference_band(result, str(rule.of), parts[1], float(rule.value))
        return band.text if isinstance(band, Band) else rule.text()
    if rule.op != "within" or not isinstance(rule.of, str):
        return rule.text()
    ref = result.get(_fill(rule.of, parts))
    if ref is None or not ref.available:
        return rule.text()
    return Rule(rule.op, rule.value, float(ref.value)).text()


def _ceiling(m: Metric) -> float | None:
    c = m.ceiling
    return float(c) if c is not None and math.isfinite(float(c)) else None


def evaluate_check(result: ValidationResult, check: Check) -> list[dict[str, Any]]:
    """The check dicts of one (possibly wildcard) check."""
    rule = check.rule_text()
    missing_status = "fail" if check.required else "n/a"
    found = _expand(result, check.metric)
    if not found:
        domain = check.metric.split(".")[0]
        absent = not any(fnmatchcase(d, domain) for d in result.metrics)
        return [
            {
                "metric": check.metric,
                "value": None,
                "units": "",
                # a whole domain the trial does not carry (no joint angles in a C3D without IK) is not
                # judged; a missing metric inside a domain the trial has is a failure when required
                "status": "n/a" if absent else missing_status,
                "rule": rule,
                "ceiling": None,
                "required": check.required,
                "reason": f"the trial has no {domain} data" if absent else "no such metric in the result",
            }
        ]
    out = []
    for parts, m in found:
        if any(isinstance(r.of, str) for r in (check.pass_rule, check.warn_rule) if r is not None):
            # a rule relative to another metric or to the reference's band: show what it resolved to
            rule = f"pass {_resolved_text(check.pass_rule, result, parts)}"
            if check.warn_rule is not None:
                rule += f"; warn {_resolved_text(check.warn_rule, result, parts)}"
        row: dict[str, Any] = {
            "metric": ".".join(parts),
            "value": float(m.value) if m.available else None,
            "units": m.units,
            "status": "n/a",  # a value that is not available is not judged: n/a with its reason, never fail
            "rule": rule,
            "ceiling": _ceiling(m),
            "required": check.required,
        }
        if check.label:
            row["label"] = check.label
        if not m.available:
            row["reason"] = m.reason or "not available"
        else:
            x = float(m.value)
            ok, why = _apply(check.pass_rule, x, result, parts)
            if ok is None:
                row["reason"] = why
            elif ok:
                row["status"] = "pass"
            elif check.warn_rule is not None and _apply(check.warn_rule, x, result, parts)[0]:
                row["status"] = "warn"
            else:
                row["status"] = "fail"
        out.append(row)
    return out


def evaluate(result: ValidationResult, protocol: Protocol | str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Judge every metric named by ``protocol``; sets ``result.protocol`` and ``result.checks``.

    Each check dict: ``metric`` (concrete dotted path), ``value`` (``None`` when n/a), ``units``,
    ``status`` (``pass``/``warn``/``fail``/``n/a``), ``rule`` (text), ``ceiling`` (human vs human, or
    ``None``), ``required``, and ``reason`` when the value is not available.
    """
    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    checks: list[dict[str, Any]] = []
    for c in proto.checks:
        checks.extend(evaluate_check(result, c))
    result.protocol = proto.summary()
    result.checks = checks
    na = [c for c in checks if c["required"] and c["status"] == "n/a"]
    if na:
        note = (
            f"protocol {proto.name!r}: {len(na)} required check(s) n/a (not available, each with its reason): "
            "the verdict covers only the checks that could be judged"
        )
        if note not in result.notes:
            result.notes.append(note)
    ref = result.reference or {}
    used = f"{ref.get('name', '')}:{ref.get('condition', '')}".strip(":")
    if proto.reference and used and used != proto.reference and used.split(":")[0] != proto.reference:
        note = f"protocol {proto.name!r} is written for reference {proto.reference}; this result used {used}"
        if note not in result.notes:
            result.notes.append(note)
    return checks


def summarize(checks: list[dict[str, Any]]) -> dict[str, int]:
    """Counts per status, in :data:`STATUSES` order."""
    return {s: sum(1 for c in checks if c["status"] == s) for s in STATUSES}
