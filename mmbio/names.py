"""Canonical muscle names and the aliases that datasets use for them.

EMG and activation channels are ``<canonical>_<side>``. :func:`canonical_muscle` maps a dataset's
label (``'R_tibialis_anterior'``, ``'TA'``, ``'Anterior Tibialis'``) to the canonical name.
"""

from __future__ import annotations

import re

#: canonical name → aliases (lower case, non-alphanumerics collapsed to ``_``).
MUSCLE_ALIASES: dict[str, tuple[str, ...]] = {
    "tibialis_anterior": ("ta", "tibant", "anterior_tibialis", "tib_ant"),
    "soleus": ("so", "sol"),
    "gastrocnemius_medialis": ("gm", "gasmed", "medial_gastrocnemius", "gastrocnemius_medial", "med_gas"),
    "gastrocnemius_lateralis": ("gl", "gaslat", "lateral_gastrocnemius", "gastrocnemius_lateral", "lat_gas"),
    "gastrocnemius": ("gastro", "gas", "calf"),
    "vastus_medialis": ("vm", "vasmed", "vastus_medius"),
    "vastus_lateralis": ("vl", "vaslat"),
    "rectus_femoris": ("rf", "recfem"),
    "semitendinosus": ("st", "semiten"),
    "medial_hamstrings": ("medham", "med_ham"),
    "biceps_femoris": ("bf", "bflh", "biceps_femoris_long_head", "lateral_hamstrings", "latham"),
    "gluteus_maximus": ("ma", "glmax", "glut_max", "glumax"),
    "gluteus_medius": ("me", "glmed", "glut_med", "glumed"),
    "tensor_fasciae_latae": ("fl", "tfl", "tenfaclat"),
    "peroneus_longus": ("pl", "perlong", "perlon", "fibularis_longus"),
}

_LOOKUP: dict[str, str] = {}
for _canon, _aliases in MUSCLE_ALIASES.items():
    _LOOKUP[_canon] = _canon
    for _a in _aliases:
        _LOOKUP[_a] = _canon


def _norm(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")


def canonical_muscle(label: str) -> str | None:
    """Canonical muscle name for a dataset label (side prefixes/suffixes stripped), or ``None``.

    >>> canonical_muscle("R_gastrocnemius_medialis")
    'gastrocnemius_medialis'
    >>> canonical_muscle("Anterior Tibialis")
    'tibialis_anterior'
    """
    key = _norm(label)
    key = re.sub(r"^(r|l|right|left)_", "", key)
    key = re.sub(r"_(r|l|right|left)$", "", key)
    return _LOOKUP.get(key)
