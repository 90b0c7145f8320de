"""Bounded YAML loading for mmbio's small documents: validation protocols and reference provenance files.

Threat model / what is checked. A YAML file named on the command line (``--protocol``) or found through
``$MMBIO_VALIDATION_DIR`` / ``$MMBIO_REFERENCE_DATA`` is untrusted. ``yaml.safe_load`` already refuses to build
arbitrary Python objects, but it still composes aliases as shared references, so a 600-byte "billion laughs"
document becomes 10⁹ strings as soon as anything walks it (``str()``, ``json.dumps``: 5–8 GB); recurses once per
nesting level (a deeply nested document raises ``RecursionError``); lets ``int()`` and ``datetime`` raise
``ValueError`` on scalars such as a 5000-digit integer or ``2001-02-30``; and silently keeps the last of two
equal keys (a typo'd duplicate ``pass:`` would change a threshold without a word). :func:`load_yaml` refuses:

* a file over ``MAX_YAML_KB`` (read with a bounded ``read``), text that is not UTF-8;
* more than ``MAX_YAML_NODES`` nodes counted with every alias expanded, or more than
  :data:`EXPANDED_CHARS_PER_KB` × ``MAX_YAML_KB`` characters of scalars counted the same way (one long string
  aliased many times);
* nesting deeper than ``MAX_DEPTH`` (:mod:`mmbio.limits`), an alias inside its own anchor (a recursive structure);
* duplicate keys in a mapping; tags other than the JSON-like core (str, int, float, bool, null, seq, map) and
  merge keys, so no ``!!timestamp``/``!!binary``/``!!set``/``!!python/…``; an explicitly tagged scalar that does
  not look like its tag (``!!bool maybe``); numbers the constructor cannot convert (``!!int`` of 5000 digits).

Dates stay strings (no implicit timestamps). Every refusal is one :class:`~mmbio.errors.DataFileError` naming the
file and, where known, the line; nothing else is expected to escape (``tests/test_fuzz_opensim.py``). What the
document must contain is checked by its reader (:func:`mmbio.report.protocol.parse_protocol`).
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mmbio import limits
from mmbio.errors import DataFileError

__all__ = ["EXPANDED_CHARS_PER_KB", "load_yaml", "loads_yaml"]

#: Expanded scalar characters allowed per KiB of ``MAX_YAML_KB`` (1 MiB → 16 Mi characters).
EXPANDED_CHARS_PER_KB = 16 * 1024

_MERGE = "tag:yaml.org,2002:merge"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_CORE = "tag:yaml.org,2002:"
#: The only tags a document may carry: what JSON has, plus merge keys. No !!timestamp, !!binary, !!set, !!omap…
ALLOWED_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge"))
#: An explicitly tagged scalar (``!!int x``) must look like one of its kind, as the implicit resolver sees it.
_SCALAR_FORMS = {
    tag: [rx for ch_resolvers in yaml.SafeLoader.yaml_implicit_resolvers.values() for t, rx in ch_resolvers if t == tag]
    for tag in (_CORE + "int", _CORE + "float", _CORE + "bool", _CORE + "null")
}


class _Refused(yaml.MarkedYAMLError):
    """A limit of this loader (not a syntax error): reported without the 'invalid YAML' prefix."""


class BoundedSafeLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader` that counts what it composes (see the module docstring for the limits)."""

    # no implicit dates: ``2001-02-30`` is a string, not a ValueError
    yaml_implicit_resolvers: ClassVar[dict[str, list[tuple[str, re.Pattern[str]]]]] = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.max_nodes = limits.get("MAX_YAML_NODES")
        self.max_chars = limits.get("MAX_YAML_KB") * EXPANDED_CHARS_PER_KB
        self.max_depth = limits.get("MAX_DEPTH")
        self._depth = 0
        self._size: dict[int, tuple[int, int]] = {}  # id(node) → (nodes, scalar characters), aliases expanded

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None and id(node) not in self._size:  # its anchor is still open
                raise _Refused(
                    None, None, f"alias *{event.anchor} is used inside its own anchor (a recursive structure)",
                    event.start_mark,
                )  # fmt: skip
            return super().compose_node(parent, index)  # the anchored node, already counted
        self._depth += 1
        if self._depth > self.max_depth:
            raise _Refused(
                None,
                None,
                f"nesting deeper than {self.max_depth} levels (MMBIO_MAX_DEPTH)",
                self.peek_event().start_mark,
            )
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node.tag not in ALLOWED_TAGS:
            raise _Refused(None, None, f"tag {node.tag.replace(_CORE, '!!')[:60]!r} is not allowed", node.start_mark)
        if isinstance(node, ScalarNode):
            forms = _SCALAR_FORMS.get(node.tag)
            if forms is not None and not any(rx.match(node.value) for rx in forms):
                raise _Refused(
                    None, None, f"{node.value[:40]!r} is not a {node.tag.replace(_CORE, '')}", node.start_mark
                )
            size = (1, len(node.value))
        else:
            children: list[Node] = []
            if isinstance(node, SequenceNode):
                children = node.value
            elif isinstance(node, MappingNode):
                seen: set[tuple[str, str]] = set()
                for key, value in node.value:
                    children += (key, value)
                    if isinstance(key, ScalarNode) and key.tag != _MERGE:
                        if (key.tag, key.value) in seen:
                            raise _Refused(
                                "in a mapping", node.start_mark, f"duplicate key {key.value[:60]!r}", key.start_mark
                            )
                        seen.add((key.tag, key.value))
            nodes, chars = 1, 0
            for child in children:
                n, c = self._size[id(child)]
                nodes, chars = nodes + n, chars + c
            size = (nodes, chars)
        if size[0] > self.max_nodes:
            raise _Refused(
                None, None, f"the document expands to more than {self.max_nodes:,} nodes, aliases counted each "
                "time they are used (MMBIO_MAX_YAML_NODES)", node.start_mark,
            )  # fmt: skip
        if size[1] > self.max_chars:
            raise _Refused(
                None, None, f"the document expands to more than {self.max_chars:,} characters, aliases counted "
                "each time they are used", node.start_mark,
            )  # fmt: skip
        self._size[id(node)] = size
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as e:  # int('9' * 5000), an explicit !!timestamp 2001-02-30, …
            value = node.value if isinstance(node, ScalarNode) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.tag.rsplit(':', 1)[-1]} {value[:40]!r}: {e}", node.start_mark
            ) from None


def loads_yaml(text: str, source: str | PathLike[str] = "<yaml>") -> Any:
    """The document in ``text`` (one document; ``None`` when empty); :class:`DataFileError` naming ``source``."""
    loader = None
    try:
        loader = BoundedSafeLoader(text.removeprefix("\ufeff"))  # its reader already refuses control characters
        return loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or (str(e).splitlines() or ["malformed"])[0]
        if isinstance(e, _Refused):
            raise DataFileError(source, f"{problem}" + (f" (at {line})" if line else "")) from None
        raise DataFileError(source, f"invalid YAML{' at ' + line if line else ''}: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml(path: str | PathLike[str], *, mapping: bool = True) -> Any:
    """The YAML document in the file ``path``, bounded (see the module docstring).

    ``mapping``: the document must be a mapping (an empty file gives ``{}``). Raises :class:`DataFileError`.
    """
    p = Path(path)
    cap = limits.get("MAX_YAML_KB") * 1024
    if not p.is_file():
        raise DataFileError(path, "no such file" if not p.exists() else "not a regular file")
    try:
        with p.open("rb") as fh:
            raw = fh.read(cap + 1)  # bounded even if the file grows after a size check
    except OSError as e:
        raise DataFileError(path, f"cannot read: {e.strerror or e}") from None
    if len(raw) > cap:
        lim = limits.LIMITS["MAX_YAML_KB"]
        raise DataFileError(
            path,
            f"YAML file is larger than mmbio's limit of {limits.fmt_bytes(cap)} (set {lim.env} in KiB to change it)",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataFileError(path, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    doc = loads_yaml(text, path)
    if mapping:
        if doc is None:
            return {}
        if not isinstance(doc, dict):
            raise DataFileError(path, f"the document must be a mapping of keys to values, not a {type(doc).__name__}")
    return doc
