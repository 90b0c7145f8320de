"""The report of a controller run that completed no gait cycle: it fell first, or it stayed up (standing,
shuffling) without two heel strikes on either side.

No gait-cycle metric exists for such a run, so none is invented: the page states the fall (time and reason) or
that the gait metrics are n/a and why, and plots the raw time series — pelvis height, the sagittal joint angles and
the vertical GRF per foot — with the controller's own numbers. ``metrics.json`` holds the same facts
(``no_gait_cycle: true``; ``fell`` says which case).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

import mmbio
from mmbio.io.atomic import atomic_path
from mmbio.provenance import git_revision
from mmbio.trial import Trial

A4 = (8.27, 11.69)
_ANGLES = ("hip_flexion", "knee_flexion", "ankle_dorsiflexion")


def _plain(o: Any) -> Any:
    return o.tolist() if hasattr(o, "tolist") else float(o)


def no_cycle_reason(controller: dict[str, Any]) -> str:
    """Why no gait metric exists for a run with no complete gait cycle (``controller``: the CLI's summary of the
    run, with ``fell`` and ``simulated``)."""
    if controller.get("fell", True):
        return "no complete gait cycle before the fall: no gait metric is computed"
    sim = (controller.get("simulated") or {}).get("value")
    span = f"in {sim:.2f} s simulated" if sim is not None else "in the simulation"
    return (
        f"no complete gait cycle {span}: the controller stayed up but no foot struck the floor twice, so the "
        "gait metrics are n/a"
    )


def no_cycle_summary(trial: Trial, controller: dict[str, Any]) -> dict[str, Any]:
    """metrics.json content for a run with no complete gait cycle (fell or not: ``controller['fell']``)."""
    return {
        "trial": {
            "name": trial.name,
            "source": trial.source,
            "kind": trial.kind,
            "notes": list(trial.notes),
            "controller": controller,
        },
        "fell": bool(controller.get("fell", True)),
        "no_gait_cycle": True,
        "metrics": {},
        "notes": [no_cycle_reason(controller)],
        "provenance": {"mmbio_version": mmbio.__version__, "git_revision": git_revision()},
    }


def write_no_cycle_report(
    trial: Trial,
    controller: dict[str, Any],
    out_dir: Path,
    *,
    pdf: bool = True,
    stage: Callable[[str], Path] | None = None,
) -> list[Path]:
    """Write ``metrics.json`` (and ``report.pdf``) for a run with no complete gait cycle, each atomically; returns the
    paths written.

    stage: where to write each file name (e.g. :meth:`mmbio.report.output_dir.OutputDir.stage`); default
    ``out_dir / name``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "metrics.json"]
    with atomic_path(stage("metrics.json") if stage else paths[0]) as tmp:
        tmp.write_text(json.dumps(no_cycle_summary(trial, controller), indent=2, default=_plain))
    if not pdf:
        return paths
    fig = Figure(figsize=A4)
    fell_at = controller.get("fell_at", {}).get("value")
    reason = controller.get("fall_reason", "")
    fell = bool(controller.get("fell", True))
    if fell:
        fig.text(0.08, 0.95, "mmbio validation: the controller FELL", fontsize=16, weight="bold", color="#b00020")
        lines = [
            f"Trial: {trial.name}",
            f"Fell at {fell_at:.2f} s ({reason})." if fell_at is not None else f"Fell ({reason}).",
            "No complete gait cycle was simulated before the fall, so no gait metric is computed: the plots show",
            "the raw signals up to the fall.",
        ]
    else:
        fig.text(0.08, 0.95, "mmbio validation: no gait cycle (metrics n/a)", fontsize=16, weight="bold",
                 color="#555555")  # fmt: skip
        why = no_cycle_reason(controller)
        lines = [
            f"Trial: {trial.name}",
            why[0].upper() + why[1:] + ".",
            "A gait metric needs two heel strikes on one side; the plots show the raw signals of the whole run.",
        ]
    for k, ln in enumerate(ln for text in lines for ln in textwrap.wrap(text, 105)):
        fig.text(0.08, 0.92 - 0.018 * k, ln, fontsize=9)
    axes = [fig.add_axes((0.1, 0.62 - 0.2 * i, 0.82, 0.15)) for i in range(3)]
    ang = trial.angles
    if ang is not None:
        t = ang.time
        for name in _ANGLES:
            for side, ls in (("r", "-"), ("l", "--")):
                col = f"{name}_{side}"
                if col in ang.names:
                    axes[0].plot(
                        t, ang.values[:, ang.names.index(col)], ls, lw=1, label=f"{name.replace('_', ' ')} {side}"
                    )
        axes[0].set_ylabel("angle (deg)")
        axes[0].legend(fontsize=6, ncol=3, loc="upper left")
    root = controller.get("root_height")
    if root is not None:
        axes[1].plot(root["time"], root["value"], "k", lw=1)
        axes[1].set_ylabel("pelvis height (m)")
    mass = trial.subject.mass_kg if trial.subject and trial.subject.mass_kg else float("nan")
    for side, ls in (("r", "-"), ("l", "--")):
        g = (trial.grf or {}).get(side)
        if g is not None and np.isfinite(mass):
            axes[2].plot(g.time, g.force[:, 2] / (mass * 9.81), ls, lw=1, label=f"vertical GRF {side}")
    axes[2].set_ylabel("vertical GRF (BW)")
    axes[2].set_xlabel("time (s)")
    axes[2].legend(fontsize=6, loc="upper right")
    for ax in axes:
        if fell_at is not None:
            ax.axvline(fell_at, color="#b00020", lw=1, ls=":")
        ax.tick_params(labelsize=7)
    fig.text(0.08, 0.03, f"mmbio {mmbio.__version__} · git {git_revision() or 'n/a'}", fontsize=6, color="grey")
    path = out_dir / "report.pdf"
    with atomic_path(stage("report.pdf") if stage else path) as tmp, PdfPages(tmp) as pp:
        pp.savefig(fig)
    paths.append(path)
    return paths
