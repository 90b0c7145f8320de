"""Validation protocols: which reference, which variables, and pass / warn / fail thresholds per metric.

A protocol is a YAML file (``validation/walking.yaml``)::

    name: walking
    description: healthy adult overground walking at a self-selected speed
    reference: schwartz2008:free          # NAME[:CONDITION], the default reference of the protocol
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
``between`` (``value: [lo, hi]``, inclusive) and ``within`` (``|x − of| ≤ value``; ``of`` is a number or
a metric path whose wildcards take the matched parts of the checked metric, e.g. the reference's peak).

Protocol files are found in ``$MMBIO_VALIDATION_DIR`` if set, else the package data
``mmbio._data.validation`` (installed wheel), else ``<repo>/validation`` (source checkout).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from mmbio.analysis.result import Metric, ValidationResult
from mmbio.errors import MmbioError

ENV_VAR = "MMBIO_VALIDATION_DIR"
OPS: tuple[str, ...] = (">=", ">", "<=", "<", "==", "!=", "abs<=", "between", "within")
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


def load_protocol(name_or_path: str | os.PathLike[str]) -> Protocol:
    """A protocol by shipped name (``walking``) or by path to a YAML file; :class:`MmbioError` otherwise."""
    s = str(name_or_path)
    p = Path(s)
    looks_like_path = p.suffix in (".yaml", ".yml") or os.sep in s or "/" in s
    if not looks_like_path:
        p = protocols_dir() / f"{s}.yaml"
        if not p.is_file():
            have = ", ".join(list_protocols()) or f"(none found in {protocols_dir()})"
            raise MmbioError(f"unknown validation protocol {s!r}; choose from: {have}")
    elif not p.is_file():
        raise MmbioError(f"{p}: protocol file not found")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise MmbioError(f"{p}: invalid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MmbioError(f"{p}: cannot read protocol: {e}") from None
    return parse_protocol(doc, source=str(p))


def parse_protocol(doc: Any, source: str = "<protocol>") -> Protocol:
    """A :class:`Protocol` from the mapping of a YAML document; errors name ``source``."""

    def bad(problem: str) -> MmbioError:
        return MmbioError(f"{source}: {problem}")

    if not isinstance(doc, Mapping):
        raise bad("a protocol must be a mapping with name, reference and checks")
    name = str(doc.get("name") or Path(source).stem)
    raw_checks = doc.get("checks")
    if not isinstance(raw_checks, list) or not raw_checks:
        raise bad("'checks' must be a non-empty list")
    checks: list[Check] = []
    for i, c in enumerate(raw_checks, 1):
        if not isinstance(c, Mapping) or "metric" not in c or "pass" not in c:
            raise bad(f"check {i} needs 'metric' and 'pass'")
        metric = str(c["metric"])
        if len(metric.split(".")) != 4:
            raise bad(f"check {i}: metric must be domain.side.variable.name, got {metric!r}")
        pr = _rule(c["pass"], f"check {i} ({metric}) pass", bad)
        wr = _rule(c["warn"], f"check {i} ({metric}) warn", bad) if c.get("warn") is not None else None
        checks.append(Check(metric, pr, wr, bool(c.get("required", True)), str(c.get("label", ""))))
    variables = doc.get("variables") or {}
    if not isinstance(variables, Mapping):
        raise bad("'variables' must be a mapping")
    return Protocol(
        name=name,
        description=" ".join(str(doc.get("description", "")).split()),
        reference=str(doc.get("reference", "")),
        checks=checks,
        variables=dict(variables),
        path=source,
    )


def _rule(raw: Any, what: str, bad: Any) -> Rule:
    if not isinstance(raw, Mapping) or "op" not in raw or "value" not in raw:
        raise bad(f"{what}: a rule needs 'op' and 'value'")
    op = str(raw["op"])
    if op not in OPS:
        raise bad(f"{what}: unknown op {op!r}; choose from: {', '.join(OPS)}")
    value = raw["value"]
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(_is_num(v) for v in value)):
            raise bad(f"{what}: 'between' needs value: [lo, hi]")
        value = [float(value[0]), float(value[1])]
    elif not _is_num(value):
        raise bad(f"{what}: value must be a number, got {value!r}")
    else:
        value = float(value)
    of = raw.get("of")
    if op == "within":
        if of is None or not (_is_num(of) or (isinstance(of, str) and len(of.split(".")) == 4)):
            raise bad(f"{what}: 'within' needs of: a number or a metric path domain.side.variable.name")
        of = float(of) if _is_num(of) else str(of)
    return Rule(op, value, of)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(float(v))


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


def _apply(rule: Rule, x: float, result: ValidationResult, parts: list[str]) -> bool | None:
    """True/False; ``None`` when the rule's reference value (``of``) is not available."""
    op, v = rule.op, rule.value
    if op == ">=":
        return x >= v
    if op == ">":
        return x > v
    if op == "<=":
        return x <= v
    if op == "<":
        return x < v
    if op == "==":
        return math.isclose(x, v, abs_tol=1e-9)
    if op == "!=":
        return not math.isclose(x, v, abs_tol=1e-9)
    if op == "abs<=":
        return abs(x) <= v
    if op == "between":
        return v[0] <= x <= v[1]
    # within
    if isinstance(rule.of, str):
        ref = result.get(_fill(rule.of, parts))
        if ref is None or not ref.available:
            return None
        center = float(ref.value)
    else:
        center = float(rule.of)  # type: ignore[arg-type]
    return abs(x - center) <= v + 1e-12


def _resolved(rule: Rule, result: ValidationResult, parts: list[str]) -> Rule:
    """``rule`` with a metric-path ``of`` replaced by its value for the matched parts (when available)."""
    if rule.op != "within" or not isinstance(rule.of, str):
        return rule
    ref = result.get(_fill(rule.of, parts))
    if ref is None or not ref.available:
        return rule
    return Rule(rule.op, rule.value, float(ref.value))


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
            # a rule relative to another metric (the reference's own peak): show the value it resolved to
            rule = Check(
                check.metric,
                _resolved(check.pass_rule, result, parts),
                None if check.warn_rule is None else _resolved(check.warn_rule, result, parts),
            ).rule_text()
        row: dict[str, Any] = {
            "metric": ".".join(parts),
            "value": float(m.value) if m.available else None,
            "units": m.units,
            "status": missing_status,
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
            ok = _apply(check.pass_rule, x, result, parts)
            if ok is None:
                row["reason"] = "the rule's reference value is not available"
            elif ok:
                row["status"] = "pass"
            elif check.warn_rule is not None and _apply(check.warn_rule, x, result, parts):
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
