"""Property test for the C3D reader: any truncation or corruption of a real file either reads or raises
DataFileError naming the file — never another exception."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from conftest import SHARED_REFERENCE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmbio.errors import DataFileError
from mmbio.io.c3d import read_c3d

SRC = SHARED_REFERENCE / "schreiber2019" / "2014001" / "2014001_C4_05.c3d"


@pytest.mark.skipif(not SRC.is_file(), reason=f"real gait data not found at {SRC}")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    mode=st.sampled_from(["truncate", "overwrite", "zero"]),
    where=st.floats(0.0, 1.0, exclude_max=True),
    data=st.binary(min_size=1, max_size=64),
)
def test_damaged_c3d_reads_or_raises_data_file_error(tmp_path: Path, mode: str, where: float, data: bytes) -> None:
    raw = bytearray(SRC.read_bytes())
    at = int(where * len(raw))
    if mode == "truncate":
        raw = raw[:at]
    elif mode == "overwrite":
        raw[at : at + len(data)] = data
    else:
        raw[at : at + 4 * len(data)] = bytes(min(4 * len(data), len(raw) - at))
    f = tmp_path / "damaged.c3d"
    f.write_bytes(bytes(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            trial = read_c3d(f)
        except DataFileError as e:
            assert "damaged.c3d" in str(e)
            return
    assert trial.source.endswith("damaged.c3d")
