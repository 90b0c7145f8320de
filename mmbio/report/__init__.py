"""The validation report: protocols with pass / warn / fail thresholds, figures, and the PDF.

``evaluate(result, load_protocol('walking'))`` judges a :class:`~mmbio.analysis.result.ValidationResult`;
``write_report(result, 'report.pdf')`` writes the PDF, ``write_curves_csv`` / ``write_metrics_json`` the
tables. Importing this package does not import matplotlib; the figure and PDF modules do (Agg backend).
"""

from __future__ import annotations

from typing import Any

from mmbio.report.protocol import Check, Protocol, Rule, evaluate, list_protocols, load_protocol, protocols_dir

__all__ = [
    "Check",
    "Protocol",
    "Rule",
    "evaluate",
    "list_protocols",
    "load_protocol",
    "protocols_dir",
    "write_curves_csv",
    "write_metrics_json",
    "write_report",
]


def __getattr__(name: str) -> Any:  # lazy: keep `import mmbio.report` free of matplotlib
    if name in ("write_report", "write_curves_csv", "write_metrics_json"):
        from mmbio.report import pdf

        return getattr(pdf, name)
    raise AttributeError(f"module 'mmbio.report' has no attribute {name!r}")
