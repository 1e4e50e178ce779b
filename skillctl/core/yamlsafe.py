"""Safe YAML loading for files users hand us.

``yaml.safe_load`` alone is not enough: it accepts duplicate keys (the last one
silently wins), aliases that fan out into billion-laughs documents, unbounded
nesting and input of any size. Every problem here becomes an
:class:`InvalidSkillError` naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import yaml

from skillctl.core.errors import InvalidSkillError, NotFoundError

MAX_YAML_BYTES: Final = 1024 * 1024
MAX_DEPTH: Final = 64


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, duplicate keys and deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, f"aliases (*{event.anchor}) are not allowed", event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.MarkedYAMLError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue  # unhashable keys are reported by the constructor itself
            if duplicate:
                raise yaml.MarkedYAMLError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 booleans: only true/false. PyYAML follows YAML 1.1, where yes, no, on, off, y and n are booleans too,
# so a skill named "yes" or a description "on" would stop being text; the Go tool (yaml.v3) and the agents'
# YAML 1.2 parsers read them as strings. Dates stay strings too: no field of ours is a date.
_BOOL_12: Final = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_StrictLoader.yaml_implicit_resolvers = {
    first: [
        (tag, _BOOL_12 if tag == "tag:yaml.org,2002:bool" else rx)
        for tag, rx in resolvers
        if tag != "tag:yaml.org,2002:timestamp"
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_constructor(
    "tag:yaml.org,2002:map",
    _StrictLoader.construct_mapping,  # type: ignore[arg-type]
)


class TextLoader(_StrictLoader):
    """For ``load_yaml(loader=TextLoader)``: every plain scalar but null is text, as when the Go tool
    decodes into string fields.

    For documents whose fields are all strings (SkillCards, collections): ``version: 1.0``
    stays ``"1.0"`` (and is then reported as not semver), ``name: yes`` is the name "yes".
    """


TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in _StrictLoader.yaml_implicit_resolvers.items()
}


def decode_utf8(data: bytes, *, source: str) -> str:
    """Decode UTF-8 (a BOM is tolerated) or raise an error naming the offending byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidSkillError(f"{source}: file is UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidSkillError(
            f"{source}: not valid UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); save the file as UTF-8"
        ) from None


def read_text(path: Path, *, limit: int = MAX_YAML_BYTES, source: str | None = None) -> str:
    """Read a small UTF-8 text file with a size limit."""
    label = source or str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise NotFoundError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InvalidSkillError(f"{label}: is a directory, expected a file") from None
    except OSError as exc:
        raise InvalidSkillError(f"{label}: cannot read: {exc.strerror}") from None
    if len(data) > limit:
        raise InvalidSkillError(f"{label}: larger than {limit // 1024} KiB; is this the right file?")
    return decode_utf8(data, source=label)


def load_yaml(text: str, *, source: str, loader: type[yaml.SafeLoader] | None = None) -> Any:
    """Parse one YAML document strictly; errors name ``source`` and the line."""
    if len(text.encode("utf-8")) > MAX_YAML_BYTES:
        raise InvalidSkillError(f"{source}: larger than {MAX_YAML_BYTES // 1024} KiB")
    try:
        return yaml.load(text, Loader=loader or _StrictLoader)  # noqa: S506 - _StrictLoader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise InvalidSkillError(f"{source}: invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise InvalidSkillError(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:
        raise InvalidSkillError(f"{source}: invalid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. an explicit !!int tag on a non-number
        raise InvalidSkillError(f"{source}: invalid YAML value: {exc}") from None


class MarkedDict(dict):  # type: ignore[type-arg]
    """A mapping from :func:`load_yaml_marked`: ``line`` where it starts, ``lines[key]`` where each key is."""

    line: int = 0
    lines: dict[Any, int] = {}  # noqa: RUF012 - replaced per instance by the loader


class MarkedList(list):  # type: ignore[type-arg]
    """A sequence from :func:`load_yaml_marked`: ``line`` where it starts, ``lines[i]`` where each item is."""

    line: int = 0
    lines: list[int] = []  # noqa: RUF012 - replaced per instance by the loader


class _MarkedLoader(_StrictLoader):
    pass


def _marked_map(loader: _MarkedLoader, node: Any) -> MarkedDict:
    data = MarkedDict(loader.construct_mapping(node))
    data.line = node.start_mark.line + 1
    data.lines = {}
    for key_node, _ in node.value:
        try:
            data.lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1
        except TypeError:
            continue
    return data


def _marked_seq(loader: _MarkedLoader, node: Any) -> MarkedList:
    data = MarkedList(loader.construct_sequence(node))
    data.line = node.start_mark.line + 1
    data.lines = [item.start_mark.line + 1 for item in node.value]
    return data


_MarkedLoader.add_constructor("tag:yaml.org,2002:map", _marked_map)  # type: ignore[arg-type]
_MarkedLoader.add_constructor("tag:yaml.org,2002:seq", _marked_seq)  # type: ignore[arg-type]


def load_yaml_marked(text: str, *, source: str) -> Any:
    """:func:`load_yaml`, with mappings and lists that know their line numbers (for errors naming the line)."""
    return load_yaml(text, source=source, loader=_MarkedLoader)
