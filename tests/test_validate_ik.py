"""``mmbio validate TRIAL.c3d`` runs marker IK when the C3D has markers but no joint angles (``--no-ik`` skips it).

A Schreiber 2019 trial (ISB markers, GRF, EMG; no angles): with IK its kinematic checks are assessed, with
``--no-ik`` they are n/a as before.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmbio.cli import main


def _run(shared: Path, out: Path, *extra: str) -> dict:
    c3d = sorted(shared.glob("schreiber2019/*/*_C4_*.c3d"))[0]  # any walking trial: the data decide which
    args = ["validate", str(c3d), "--reference", "schwartz2008:free", "--no-pdf", "--no-spm", "--output", str(out)]
    assert main([*args, *extra]) in (0, 1)
    return json.loads((out / "metrics.json").read_text())


def test_validate_runs_ik_on_markers(shared: Path, tmp_path: Path) -> None:
    doc = _run(shared, tmp_path / "ik")
    knee = doc["kinematics"]["right"]["knee_flexion"]
    # the knee's shape is the most robust IK output (the model is not scaled: offsets remain, RMSE is not asserted)
    assert knee["r"]["value"] > 0.9
    assert any("joint angles from mmbio's marker IK" in n for n in doc["trial"]["notes"])
    # subtalar and mtp are held at 0 by the IK (locked, as in the OpenSim model): not reported as measured
    assert "subtalar_inversion" not in doc["kinematics"]["right"] and "mtp_extension" not in doc["kinematics"]["right"]
    no = _run(shared, tmp_path / "no", "--no-ik")
    assert "kinematics" not in no or not no["kinematics"]


def test_validate_scales_to_the_static_trial(shared: Path, tmp_path: Path, capsys) -> None:
    c3d = sorted(shared.glob("schreiber2019/*/*_C4_*.c3d"))[0]
    static = sorted(c3d.parent.glob("*_ST.c3d"))[0]
    plain = _run(shared, tmp_path / "plain")
    assert any("--static" in n and "_ST.c3d" in n for n in plain["trial"]["notes"])  # the hint
    scaled = _run(shared, tmp_path / "scaled", "--static", str(static))
    # scaling to the subject brings the knee closer to the (children's) norm than the generic model does
    rmse = {k: d["kinematics"]["right"]["knee_flexion"]["rmse"]["value"] for k, d in (("p", plain), ("s", scaled))}
    assert rmse["s"] < rmse["p"]
    args = ["validate", str(c3d), "--static", str(tmp_path / "none.c3d"), "--no-pdf", "--output", str(tmp_path / "x")]
    assert main(args) == 2
    assert "none.c3d: no such file" in capsys.readouterr().err
