"""Run OpenSim inverse dynamics on a :func:`mmbio.io.opensim.write_opensim_trial` export (standard library + opensim).

Usage: ``PYTHON tests/opensim_id_worker.py CONFIG.json`` under an interpreter that imports ``opensim`` (the project's
venv need not). CONFIG keys: ``setup`` (the export's ``id_setup.xml``), ``model`` (.osim), ``out`` (a directory for
the adjusted model and the results), and one of ``mass_kg`` (scale every body's mass and inertia by one factor to
this total, as OpenSim's Scale tool does with the mass distribution kept) or ``inertias`` (each body's mass, centre
of mass and inertia given in ground at one coordinates row, e.g. the simulated model's own: :func:`_set_inertias`);
neither: the model's own. The model's locked coordinates are unlocked (the generic Rajagopal 2015 model locks
subtalar and mtp, which MyoFullBody moves and the export writes). Writes ``<out>/inverse_dynamics.sto``
(generalised forces: N·m for rotations, N for the pelvis translations), ``<out>/com.json`` (the model's centre of
mass in ground at every coordinate row, m) and ``<out>/worker.json`` (total mass before/after, unlocked
coordinates, OpenSim version).
"""

from __future__ import annotations

import json
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def run(cfg: dict) -> dict:
    """Adjust the model, run the export's InverseDynamicsTool with it; returns what ``worker.json`` holds."""
    import opensim as osim

    osim.Logger.setLevelString("error")
    out = Path(cfg["out"]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    model = osim.Model(str(cfg["model"]))
    state = model.initSystem()
    mass0 = model.getTotalMass(state)
    unlocked = []
    coords = model.getCoordinateSet()
    for i in range(coords.getSize()):
        c = coords.get(i)
        if c.get_locked():
            c.set_locked(False)
            unlocked.append(c.getName())
    bodies = model.getBodySet()
    if cfg.get("inertias"):
        _set_inertias(model, cfg["inertias"], _coordinates_file(Path(cfg["setup"]).resolve()))
    elif cfg.get("mass_kg"):
        k = float(cfg["mass_kg"]) / mass0
        for i in range(bodies.getSize()):
            b = bodies.get(i)
            b.setMass(b.getMass() * k)
            inertia = b.getInertia()
            mom, prod = inertia.getMoments(), inertia.getProducts()
            b.setInertia(osim.Inertia(*(mom.get(j) * k for j in range(3)), *(prod.get(j) * k for j in range(3))))
    model.finalizeConnections()
    adjusted = out / "model_adjusted.osim"
    model.printToXML(str(adjusted))
    state = model.initSystem()
    mass1 = model.getTotalMass(state)
    setup = Path(cfg["setup"]).resolve()
    tool = osim.InverseDynamicsTool(str(setup))
    tool.setModelFileName(str(adjusted))
    tool.setResultsDir(str(out))
    tool.setOutputGenForceFileName("inverse_dynamics.sto")
    if not tool.run():
        raise SystemExit("InverseDynamicsTool.run() returned false")
    com = _com(model, _coordinates_file(setup))
    (out / "com.json").write_text(json.dumps(com))
    info = {"mass_kg_model": mass0, "mass_kg_used": mass1, "unlocked": unlocked, "opensim": osim.GetVersionAndDate()}
    (out / "worker.json").write_text(json.dumps(info))
    return info


def _coordinates_file(setup: Path) -> Path:
    """The coordinates file an InverseDynamicsTool set-up names (relative to the set-up's folder)."""
    name = ET.parse(setup).getroot().findtext("InverseDynamicsTool/coordinates_file", "").strip()
    return setup.parent / name


def _set_state(model, state, table, row: int) -> None:
    """Coordinates of ``row`` of a coordinates table into ``state`` (degrees → rad for Rotational coordinates)."""
    import opensim as osim  # noqa: F401  (the caller has imported it)

    degrees = table.hasTableMetaDataKey("inDegrees") and table.getTableMetaDataAsString("inDegrees") == "yes"
    coords = model.getCoordinateSet()
    values = table.getRowAtIndex(row)
    for j, c in enumerate(table.getColumnLabels()):
        if coords.contains(c):
            v = values[j]
            rotational = coords.get(c).getMotionType() == 1
            coords.get(c).setValue(state, math.radians(v) if degrees and rotational else v, False)
    model.realizePosition(state)


def _set_inertias(model, spec: dict, coordinates: Path) -> None:
    """Replace body masses, centres of mass and inertias by ``spec`` (given in ground at one coordinates row).

    spec: ``{'row': k, 'bodies': {name: {'mass': kg, 'com': [3] m, 'inertia': 3×3 kg·m² about the COM}}}``, all
    in ground at row ``k``; each is moved into its body's frame at that pose. Bodies not named get 1e-4 kg.
    """
    import opensim as osim

    state = model.initSystem()
    table = osim.TimeSeriesTable(str(coordinates))
    _set_state(model, state, table, int(spec["row"]))
    bodies = model.getBodySet()
    new = {}
    for i in range(bodies.getSize()):
        b = bodies.get(i)
        x = b.getTransformInGround(state)
        r = [[x.R().get(i_, j) for j in range(3)] for i_ in range(3)]
        p = [x.p().get(k) for k in range(3)]
        if b.getName() in spec["bodies"]:
            d = spec["bodies"][b.getName()]
            com = [sum(r[k][i_] * (d["com"][k] - p[k]) for k in range(3)) for i_ in range(3)]  # Rᵀ (c − p)
            ig = d["inertia"]
            ib = [[sum(r[k][a] * ig[k][m] * r[m][c] for k in range(3) for m in range(3)) for c in range(3)]
                  for a in range(3)]  # fmt: skip
            new[b.getName()] = (d["mass"], com, ib)
        else:
            new[b.getName()] = (1e-4, [0.0, 0.0, 0.0], [[1e-6 if a == c else 0.0 for c in range(3)] for a in range(3)])
    for name, (mass, com, ib) in new.items():
        b = bodies.get(name)
        b.setMass(mass)
        b.setMassCenter(osim.Vec3(*com))
        b.setInertia(osim.Inertia(ib[0][0], ib[1][1], ib[2][2], ib[0][1], ib[0][2], ib[1][2]))


def _com(model, coordinates: Path) -> dict:
    """The model's centre of mass in ground (m) at every row of the coordinates file: ``{'time': […], 'com': […]}``."""
    import opensim as osim

    table = osim.TimeSeriesTable(str(coordinates))
    state = model.initSystem()
    com = []
    for i in range(table.getNumRows()):
        _set_state(model, state, table, i)
        p = model.calcMassCenterPosition(state)
        com.append([p.get(0), p.get(1), p.get(2)])
    return {"time": list(table.getIndependentColumn()), "com": com}


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()))
