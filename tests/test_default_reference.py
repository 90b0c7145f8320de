"""The walking protocol's default reference: adult walking (schreiber2019, the condition nearest the trial's speed)
for simulated trials of its adult model, Schwartz's children's norms for measured trials and when asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_rollout_npz import evalkit_arrays, evalkit_walk, write

from mmbio.cli import main
from mmbio.errors import MmbioError
from mmbio.report.protocol import load_protocol, parse_protocol


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("ek") / "walk.npz", evalkit_arrays(evalkit_walk(), "pre_step"))


def _doc(archive: Path, out: Path, *extra: str) -> dict:
    assert main(["validate", str(archive), "--no-pdf", "--no-spm", "--output", str(out), *extra]) in (0, 1)
    return json.loads((out / "metrics.json").read_text())


def test_simulated_walk_defaults_to_adult_walking(archive: Path, tmp_path: Path) -> None:
    doc = _doc(archive, tmp_path / "default")
    # the synthesised walk runs at 1.25 m/s: Schreiber C4 (1.07 m/s) is nearer than C5 (1.57 m/s)
    assert (doc["reference"]["name"], doc["reference"]["condition"]) == ("schreiber2019", "c4")
    assert any(n.startswith("reference schreiber2019:c4 by default") for n in doc["trial"]["notes"])
    assert doc["kinematics"]["right"]["knee_flexion"]["r"]["ceiling"]["value"] > 0.9  # adults against adults
    asked = _doc(archive, tmp_path / "asked", "--reference", "schwartz2008:free")
    assert asked["reference"]["name"] == "schwartz2008"
    assert not any("by default" in n for n in asked["trial"]["notes"])


def test_protocol_field() -> None:
    assert load_protocol("walking").simulated_reference == "schreiber2019"
    assert load_protocol("running").simulated_reference == ""
    with pytest.raises(MmbioError, match="'simulated_reference' must be a string"):
        parse_protocol({"name": "x", "reference": "schwartz2008:free", "simulated_reference": 3,
                        "checks": [{"metric": "grf.right.vertical.r", "pass": {"min": 0.5}}]}, "x.yaml")  # fmt: skip
