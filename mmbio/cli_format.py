"""The text ``mmbio validate`` prints: the credibility checks and the fidelity table of a metrics.json document."""

from __future__ import annotations

from mmbio.errors import printable

__all__ = ["format_credibility", "format_table"]


def format_credibility(doc: dict) -> str:
    """The credibility checks of a metrics.json document, failures first (empty for measured trials)."""
    cred = doc.get("credibility") or {}
    checks = cred.get("checks") or []
    if not checks:
        return ""
    counts: dict[str, int] = {}
    for c in checks:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    word = "PASS" if cred.get("passed") else "FAIL"
    order = {"fail": 0, "warn": 1, "pass": 2, "n/a": 3}
    lines = [f"simulation credibility: {word} ({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))})"]
    for c in sorted(checks, key=lambda c: order.get(c["status"], 9)):
        name = c["metric"].split(".")[2]
        value = "n/a" if c.get("value") is None else f"{c['value']:.3g} {c.get('units', '')}"
        tail = c.get("reason") if c.get("value") is None else c.get("rule")
        lines.append(f"  {c['status']:<4} {name:<26} {value:<28} {printable(tail or '', 160)}")
    return "\n".join(lines)


def _fmt(q: dict | None, spec: str = ".3f") -> str:
    if not q or q.get("value") is None:
        return "n/a"
    return format(q["value"], spec)


#: vertical-GRF rows of the text table, per activity (metrics absent from the result are skipped)
_WALKING_GRF_ROWS = ("first_peak_bw", "valley_bw", "second_peak_bw", "stance_time_s", "double_peak", "r")
_RUNNING_GRF_ROWS = (
    "active_peak_bw",
    "impact_peak_bw",
    "impact_stance_fraction",
    "loading_rate_bw_s",
    "stance_time_s",
    "r",
)


def format_table(doc: dict) -> str:
    """Human-readable summary of a metrics.json document: key metrics and the protocol verdict."""
    t = doc["trial"]
    ref = doc["reference"]
    source = printable(t["source"], 300)
    lines = [f"mmbio {doc['provenance']['mmbio_version']}: {source} vs {ref['name']}:{ref['condition']}"]
    mass = (t.get("subject") or {}).get("mass") or {}
    if mass.get("estimated"):
        lines.append(f"body mass {mass['value']:.1f} kg ESTIMATED ({printable(mass.get('method', ''), 300)})")
    lines.append("")
    kin = doc.get("kinematics", {})
    rows = [(s, v, m) for s, vs in kin.items() for v, m in vs.items() if m.get("r", {}).get("value") is not None]
    if rows:
        lines.append(f"{'side':<6} {'joint angle':<22} {'r':>7} {'RMSE deg':>9} {'ceiling r':>10}")
        for side, var, m in rows:
            ceil = m["r"].get("ceiling", {}).get("value")
            c = "n/a" if ceil is None else f"{ceil:.3f}"
            lines.append(f"{side:<6} {var:<22} {_fmt(m['r']):>7} {_fmt(m['rmse'], '.1f'):>9} {c:>10}")
    else:
        lines.append("(no joint angles compared)")
    grf = doc.get("grf", {})
    if grf:
        # the rows of the activity analysed: a running stance has no first peak, valley or second peak
        running = ref.get("activity") == "running" or any(
            "active_peak_bw" in vs.get("vertical", {}) for vs in grf.values()
        )
        keys = _RUNNING_GRF_ROWS if running else _WALKING_GRF_ROWS
        lines += [
            "",
            f"{'side':<6} {'vertical GRF (' + ('running' if running else 'walking') + ')':<24} {'trial':>7} {'ref':>7}",
        ]
        for side, vs in grf.items():
            v, r = vs.get("vertical", {}), vs.get("vertical_reference", {})
            for k in keys:
                if k in v:
                    lines.append(f"{side:<6} {k:<24} {_fmt(v[k]):>7} {_fmt(r.get(k)):>7}")
    emg = doc.get("emg", {})
    rows = [(s, mu, m) for s, ms in emg.items() for mu, m in ms.items() if m.get("r", {}).get("value") is not None]
    if rows:
        lines += ["", f"{'side':<6} {'muscle vs EMG':<24} {'r':>7} {'lag ms':>7} {'ceiling r':>10}"]
        for side, mu, m in rows:
            ceil = m["r"].get("ceiling", {}).get("value")
            c = "n/a" if ceil is None else f"{ceil:.3f}"
            lines.append(f"{side:<6} {mu:<24} {_fmt(m['r']):>7} {_fmt(m.get('best_lag_ms'), '.0f'):>7} {c:>10}")
    proto = doc.get("protocol")
    if proto:
        counts: dict[str, int] = {}
        for c in proto["checks"]:
            counts[c["status"]] = counts.get(c["status"], 0) + 1
        verdict = {True: "PASS", False: "FAIL", None: "NOT ASSESSED (every check n/a)"}[proto["passed"]]
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        lines += ["", f"protocol {proto['name']}: {verdict} ({summary})"]
        lines += [
            f"  fail: {c['metric']} = {_fmt({'value': c.get('value')})} ({c.get('rule', '')})"
            for c in proto["checks"]
            if c["status"] == "fail"
        ]
    lines += [f"note: {printable(n, 2000)}" for n in doc.get("notes", [])]
    return "\n".join(lines)
