"""Bodies whose rotational inertia no human body part could have, and the correction of MyoFullBody's.

:func:`audit_inertia` flags every body whose radius of gyration about its own centre of mass,
``sqrt(max principal inertia / mass)``, exceeds ``max_gyration_m`` (default 0.5 m: a human segment's is below
≈ 0.2 m about its own centre of mass, de Leva 1996, and the whole standing body's about a horizontal axis is of
order 0.5 m). It reports each one with the share of the whole model's composite inertia about its centre of mass
(at ``qpos0``, per world axis) that the flagged bodies hold together.

On stock MyoFullBody (musclemimic-models 1.0.6) it flags the eight shoulder phantom bodies (1 g, 1 kg·m² each):
8 kg·m² about every axis, most of the whole body's inertia about the vertical. The ``'corrected'`` registry
variant (:mod:`mmbio.models.registry`) lowers them as ``data/myofullbody_inertia_corrections.yaml`` says
(:func:`apply_inertia_corrections`); that file holds the why, the upstream report and what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import mujoco
import numpy as np

from mmbio.errors import MmbioError
from mmbio.io.yaml_safe import loads_yaml

__all__ = ["InertiaAudit", "InertiaFinding", "apply_inertia_corrections", "audit_inertia", "inertia_corrections"]

#: radius of gyration (m) above which :func:`audit_inertia` flags a body
MAX_GYRATION_M = 0.5


@dataclass(frozen=True)
class InertiaFinding:
    """One flagged body: ``mass_kg``, principal inertia ``inertia_kg_m2`` (3,), ``gyration_m`` (largest radius of
    gyration about its own centre of mass)."""

    body: str
    mass_kg: float
    inertia_kg_m2: tuple[float, float, float]
    gyration_m: float


@dataclass(frozen=True)
class InertiaAudit:
    """:func:`audit_inertia`'s result. ``whole_body_kg_m2`` (3,): the composite inertia of all bodies about the
    whole model's centre of mass at ``qpos0``, diagonal in world axes (x, y, z; MuJoCo Z up); ``flagged_kg_m2``
    (3,): the part of it that the flagged bodies' own inertia contributes."""

    findings: tuple[InertiaFinding, ...]
    max_gyration_m: float
    whole_body_kg_m2: tuple[float, float, float]
    flagged_kg_m2: tuple[float, float, float]

    @property
    def flagged_share(self) -> tuple[float, float, float]:
        """Share (0–1) of the whole-body inertia per world axis held by the flagged bodies' own inertia."""
        return tuple(float(f / w) for f, w in zip(self.flagged_kg_m2, self.whole_body_kg_m2, strict=True))  # type: ignore[return-value]

    def summary(self) -> str:
        """One line: how many bodies, their radii of gyration and their share of the inertia about the vertical."""
        if not self.findings:
            return f"no body with a radius of gyration above {self.max_gyration_m:g} m"
        g = [f.gyration_m for f in self.findings]
        return (
            f"{len(self.findings)} bodies with a radius of gyration above {self.max_gyration_m:g} m "
            f"({min(g):.3g}-{max(g):.3g} m: {', '.join(f.body for f in self.findings)}) hold "
            f"{self.flagged_kg_m2[2]:.3g} of the whole body's {self.whole_body_kg_m2[2]:.3g} kg·m² about the vertical "
            f"({100 * self.flagged_share[2]:.1f} %)"
        )


def audit_inertia(model: mujoco.MjModel, max_gyration_m: float = MAX_GYRATION_M) -> InertiaAudit:
    """Flag the bodies of ``model`` whose radius of gyration exceeds ``max_gyration_m`` (m); see the module docs."""
    if not (np.isfinite(max_gyration_m) and max_gyration_m > 0):
        raise MmbioError(f"inertia audit: max_gyration_m must be a positive number, got {max_gyration_m}")
    d = mujoco.MjData(model)
    mujoco.mj_kinematics(model, d)
    mass = np.asarray(model.body_mass, float)
    com = (d.xipos[1:] * mass[1:, None]).sum(0) / mass[1:].sum()
    whole, flagged = np.zeros((3, 3)), np.zeros((3, 3))
    findings = []
    for b in range(1, model.nbody):
        rot = d.ximat[b].reshape(3, 3)
        own = rot @ np.diag(model.body_inertia[b]) @ rot.T
        r = d.xipos[b] - com
        whole += own + mass[b] * (r @ r * np.eye(3) - np.outer(r, r))
        gyr = float(np.sqrt(np.max(model.body_inertia[b]) / mass[b])) if mass[b] > 0 else 0.0
        if gyr > max_gyration_m:
            flagged += own
            findings.append(InertiaFinding(model.body(b).name, float(mass[b]),
                                           tuple(float(v) for v in model.body_inertia[b]), gyr))  # type: ignore[arg-type]  # fmt: skip
    return InertiaAudit(tuple(findings), float(max_gyration_m), tuple(float(v) for v in np.diag(whole)),  # type: ignore[arg-type]
                        tuple(float(v) for v in np.diag(flagged)))  # type: ignore[arg-type]  # fmt: skip


@cache
def inertia_corrections(name: str = "myofullbody") -> dict[str, Any]:
    """The package's inertia corrections of model ``name`` (``data/<name>_inertia_corrections.yaml``): ``bodies``,
    ``stock_inertia_kg_m2``, ``inertia_kg_m2``, ``source``."""
    fname = f"{name}_inertia_corrections.yaml"
    try:
        text = resources.files("mmbio.models").joinpath(f"data/{fname}").read_text()
    except FileNotFoundError:
        raise MmbioError(f"no inertia corrections for model {name!r} (mmbio/models/data/{fname})") from None
    data = loads_yaml(text, fname)
    if data.get("model") != name:
        raise MmbioError(f"mmbio/models/data/{fname}: written for model {data.get('model')!r}, not {name!r}")
    return {
        "bodies": [str(b) for b in data["bodies"]],
        "stock_inertia_kg_m2": float(data["stock_inertia_kg_m2"]),
        "inertia_kg_m2": float(data["inertia_kg_m2"]),
        "source": str(data["source"]),
    }


def apply_inertia_corrections(spec: mujoco.MjSpec, name: str = "myofullbody") -> None:
    """Set the corrected diagonal inertia on ``spec``'s bodies (in place). Refuses, in one line, a model whose bodies
    are missing or no longer carry the stock value the correction was made for (a newer musclemimic-models)."""
    corr = inertia_corrections(name)
    for body in corr["bodies"]:
        b = spec.body(body)
        if b is None:
            raise MmbioError(f"inertia corrections for {name!r}: body {body!r} is not in the model")
        stock = np.asarray(b.inertia, float)
        if not np.allclose(stock, corr["stock_inertia_kg_m2"]):
            raise MmbioError(
                f"inertia corrections for {name!r}: body {body!r} has inertia {stock.tolist()} kg·m², not the "
                f"{corr['stock_inertia_kg_m2']:g} the correction was made for (a newer musclemimic-models?)"
            )
        b.inertia = [corr["inertia_kg_m2"]] * 3
