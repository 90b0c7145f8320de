"""Which muscle of one source corresponds to which muscle of another: EMG datasets and model actuators.

Names are the canonical muscle names of :mod:`mmbio.names` (``tibialis_anterior``); channels are
``<name>_<side>``.

**EMG → model** (:data:`EMG_TO_MODEL`). Each canonical EMG muscle maps to the MyoFullBody (MyoSuite)
actuator base names that the surface electrode records; the actuators are ``<base>_<side>``
(``tibant_r``). When several actuators make up one EMG muscle (the three gluteus maximus bundles,
semitendinosus + semimembranosus for the medial hamstrings) the muscle's activation is their
**unweighted mean** activation: a surface electrode sees the summed activity of the bundles under
it, and without fibre counts the mean is the neutral choice (it keeps the result in [0, 1]). A muscle
is only built when *all* its actuators are present; otherwise it is reported as unmatched.

**Dataset ↔ dataset** (:data:`EQUIVALENT`). Datasets record slightly different sites. These pairs
are treated as the same signal (``how = 'equivalent'``), everything else only matches itself
(``how = 'same'``):

* ``medial_hamstrings`` ≈ ``semitendinosus`` (the medial-hamstring electrode lies over the
  semitendinosus; Rajagopal 2016 / Schwartz 2008 vs Santuz 2020 / Schreiber 2019);
* ``gastrocnemius`` ≈ ``gastrocnemius_medialis`` (a single "gastrocnemius" electrode is placed over
  the medial head by SENIAM convention);
* ``biceps_femoris`` ≈ lateral hamstrings: no entry needed, ``lateral_hamstrings`` is an alias of
  ``biceps_femoris`` in :data:`mmbio.names.MUSCLE_ALIASES`, so the two are the ``'same'`` muscle.

Unmatched names are returned to the caller to report; nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from mmbio.errors import ChannelError
from mmbio.names import canonical_muscle
from mmbio.trial import Channels

#: canonical EMG muscle → MyoFullBody actuator base names (actuator = ``<base>_<side>``); mean activation.
EMG_TO_MODEL: dict[str, list[str]] = {
    "tibialis_anterior": ["tibant"],
    "soleus": ["soleus"],
    "gastrocnemius_medialis": ["gasmed"],
    "gastrocnemius_lateralis": ["gaslat"],
    "gastrocnemius": ["gasmed", "gaslat"],
    "vastus_lateralis": ["vaslat"],
    "vastus_medialis": ["vasmed"],
    "rectus_femoris": ["recfem"],
    "biceps_femoris": ["bflh"],
    "semitendinosus": ["semiten"],
    "medial_hamstrings": ["semiten", "semimem"],
    "gluteus_maximus": ["glmax1", "glmax2", "glmax3"],
    "gluteus_medius": ["glmed1", "glmed2", "glmed3"],
    "tensor_fasciae_latae": ["tfl"],
    "peroneus_longus": ["perlong"],
}

#: Pairs of canonical names recorded at (nearly) the same site by different datasets (symmetric).
EQUIVALENT: tuple[tuple[str, str], ...] = (
    ("medial_hamstrings", "semitendinosus"),
    ("gastrocnemius", "gastrocnemius_medialis"),
)

_MODEL_BASES: frozenset[str] = frozenset(b for bases in EMG_TO_MODEL.values() for b in bases)


def equivalent(a: str, b: str) -> bool:
    """Whether canonical muscles ``a`` and ``b`` are listed in :data:`EQUIVALENT` (either order)."""
    return (a, b) in EQUIVALENT or (b, a) in EQUIVALENT


def _canon(name: str) -> str:
    """Canonical name of a dataset label, or the label itself (lower case) when it is not known."""
    return canonical_muscle(name) or name.strip().lower()


def match_muscles(names_a: Iterable[str], names_b: Iterable[str]) -> list[tuple[str, str, str]]:
    """One-to-one pairs ``(a, b, how)`` of muscles of two sources, in the order of ``names_a``.

    Names are canonicalised with :func:`mmbio.names.canonical_muscle` before comparing (labels it does
    not know only match themselves). ``how`` is ``'same'`` (same canonical muscle; matched first) or
    ``'equivalent'`` (a pair of :data:`EQUIVALENT`, used only for names left over by the first pass).
    Names without a partner are simply absent: see :func:`unmatched`.
    """
    a_list, b_list = list(names_a), list(names_b)
    ca = [_canon(a) for a in a_list]
    cb = [_canon(b) for b in b_list]
    used_b: set[int] = set()
    pair_of: dict[int, tuple[int, str]] = {}
    for i, x in enumerate(ca):
        j = next((j for j, y in enumerate(cb) if j not in used_b and y == x), None)
        if j is not None:
            used_b.add(j)
            pair_of[i] = (j, "same")
    for i, x in enumerate(ca):
        if i in pair_of:
            continue
        j = next((j for j, y in enumerate(cb) if j not in used_b and equivalent(x, y)), None)
        if j is not None:
            used_b.add(j)
            pair_of[i] = (j, "equivalent")
    return [(a_list[i], b_list[pair_of[i][0]], pair_of[i][1]) for i in range(len(a_list)) if i in pair_of]


def unmatched(
    names_a: Sequence[str], names_b: Sequence[str], pairs: Sequence[tuple[str, str, str]]
) -> tuple[list[str], list[str]]:
    """Names of ``names_a`` and of ``names_b`` that appear in no pair of :func:`match_muscles`."""
    pa = {p[0] for p in pairs}
    pb = {p[1] for p in pairs}
    return [a for a in names_a if a not in pa], [b for b in names_b if b not in pb]


def uses_model_names(channels: Channels) -> bool:
    """True when the channel names are MyoFullBody actuators (``tibant_r``), not canonical muscles.

    Decided by the presence of any actuator base that is not itself a canonical name (``soleus`` is both).
    """
    bases = {n[:-2] for n in channels.names if n[-2:] in ("_r", "_l")}
    return bool(bases & (_MODEL_BASES - set(EMG_TO_MODEL)))


def channel_muscles(channels: Channels, side: str) -> dict[str, list[str]]:
    """Canonical muscles available on ``side`` → the channel names that make each of them.

    Canonical (or aliased) channels ``<muscle>_<side>`` give one channel each; model actuator channels
    give every muscle of :data:`EMG_TO_MODEL` whose actuators are *all* present (several muscles may
    share an actuator: ``gastrocnemius`` and ``gastrocnemius_medialis`` both use ``gasmed``).
    """
    suffix = f"_{side}"
    mine = [n for n in channels.names if n.endswith(suffix)]
    out: dict[str, list[str]] = {}
    if uses_model_names(channels):
        have = {n[: -len(suffix)] for n in mine}
        for canon, bases in EMG_TO_MODEL.items():
            if all(b in have for b in bases):
                out[canon] = [f"{b}{suffix}" for b in bases]
        return out
    for n in mine:
        c = canonical_muscle(n[: -len(suffix)])
        if c is not None and c not in out:
            out[c] = [n]
    return out


def unmapped_channels(channels: Channels, side: str) -> list[str]:
    """Channels of ``side`` that :func:`channel_muscles` uses for no muscle (reported, never guessed)."""
    used = {n for names in channel_muscles(channels, side).values() for n in names}
    return [n for n in channels.names if n.endswith(f"_{side}") and n not in used]


def activation_channel(channels: Channels, canonical: str, side: str) -> np.ndarray:
    """(n,) activation of canonical muscle ``canonical`` on ``side`` (``'r'``/``'l'``).

    With model actuator names: the mean of ``<base>_<side>`` over :data:`EMG_TO_MODEL[canonical]`
    (all must exist). Otherwise the channel ``<canonical>_<side>`` (or an alias of it).
    Raises :class:`~mmbio.errors.ChannelError` naming what is missing.
    """
    avail = channel_muscles(channels, side)
    if canonical not in avail:
        if uses_model_names(channels) and canonical in EMG_TO_MODEL:
            missing = [f"{b}_{side}" for b in EMG_TO_MODEL[canonical] if f"{b}_{side}" not in channels.names]
            raise ChannelError(f"{canonical}_{side}: model actuator(s) {', '.join(missing)} missing")
        raise ChannelError(f"no channel for {canonical}_{side}; available: {', '.join(sorted(avail)) or 'none'}")
    return np.mean([channels[n] for n in avail[canonical]], axis=0)
