"""Hostile YAML: every trick becomes a clear InvalidSkillError naming the file (and the line)."""

from __future__ import annotations

import re

import pytest
from helpers import make_skill

from skillctl import validate_skill
from skillctl.core.errors import InvalidSkillError, NotFoundError
from skillctl.core.yamlsafe import MAX_YAML_BYTES, decode_utf8, load_yaml, read_text


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_the_first_alias():
    with pytest.raises(InvalidSkillError) as info:
        load_yaml(billion_laughs(), source="skill.yaml")
    # Refused where the first alias stands (line 2), before anything is expanded.
    assert info.value.message == "skill.yaml: invalid YAML (line 2, column 8): aliases (*a) are not allowed"


def test_even_a_single_alias_is_refused():
    with pytest.raises(InvalidSkillError, match=r"aliases \(\*x\) are not allowed"):
        load_yaml("a: &x 1\nb: *x\n", source="f.yaml")


def test_anchor_without_alias_is_fine():
    assert load_yaml("a: &x 1\n", source="f.yaml") == {"a": 1}


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "a"),
        ("m:\n  k: 1\n  j: 2\n  k: 2\n", 4, "k"),
        ("- {x: 1, x: 2}\n", 1, "x"),
    ],
)
def test_duplicate_keys(text, line, key):
    with pytest.raises(InvalidSkillError) as info:
        load_yaml(text, source="f.yaml")
    assert f"(line {line}, " in info.value.message
    assert f"duplicate key {key!r}" in info.value.message


def test_file_larger_than_one_mib(tmp_path):
    path = tmp_path / "skill.yaml"
    path.write_bytes(b"# " + b"x" * MAX_YAML_BYTES + b"\n")
    with pytest.raises(InvalidSkillError) as info:
        read_text(path)
    assert info.value.message == f"{path}: larger than 1024 KiB; is this the right file?"


def test_size_limit_is_exact(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a" * 100)
    assert read_text(path, limit=100) == "a" * 100
    path.write_bytes(b"a" * 101)
    with pytest.raises(InvalidSkillError, match="larger than"):
        read_text(path, limit=100)


def test_load_yaml_refuses_oversized_text():
    with pytest.raises(InvalidSkillError, match=r"^f\.yaml: larger than 1024 KiB"):
        load_yaml("a: " + "x" * MAX_YAML_BYTES, source="f.yaml")


def test_non_utf8_names_byte_and_line(tmp_path):
    path = tmp_path / "skill.yaml"
    path.write_bytes(b"apiVersion: x\nkind: y\nmetadata:\n  name: caf\xe9\n")
    with pytest.raises(InvalidSkillError) as info:
        read_text(path)
    assert info.value.message == f"{path}: not valid UTF-8 (byte 0xe9 on line 4); save the file as UTF-8"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_named(encoding):
    data = "a: 1\n".encode(encoding)
    if encoding != "utf-16":
        data = ("\ufeff" + "a: 1\n").encode(encoding)
    with pytest.raises(InvalidSkillError) as info:
        decode_utf8(data, source="f.yaml")
    assert info.value.message == "f.yaml: file is UTF-16; save it as UTF-8"


def test_utf8_bom_is_tolerated():
    assert decode_utf8(b"\xef\xbb\xbfa: 1\n", source="f") == "a: 1\n"


@pytest.mark.parametrize(
    "text",
    [
        "x: " + "[" * 200 + "]" * 200,
        "x: " + "{a: " * 100 + "1" + "}" * 100,
        "\n".join("  " * i + f"k{i}:" for i in range(100)) + " 1\n",
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["flow-seq", "flow-map", "block-map", "huge-flow"],
)
def test_deep_nesting_stops_at_level_65(text):
    with pytest.raises(InvalidSkillError, match="nesting deeper than 64 levels") as info:
        load_yaml(text, source="f.yaml")
    # The refusal names the place of the 65th level: the parser stopped there, not after reading the rest.
    line, column = map(int, re.search(r"line (\d+), column (\d+)", info.value.message).groups())
    assert line <= 64 and column <= 260, info.value.message


def test_moderate_nesting_is_fine():
    assert load_yaml("x: " + "[" * 30 + "]" * 30, source="f") is not None


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:os.system ['touch {marker}']",
        "!!python/name:os.system",
        "!!python/module:os",
        "!custom 'x'",
    ],
)
def test_python_and_unknown_tags_are_refused(tag, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(InvalidSkillError, match="could not determine a constructor"):
        load_yaml("a: " + tag.format(marker=marker) + "\n", source="f.yaml")
    assert not marker.exists()


def test_dates_stay_strings():
    assert load_yaml("d: 2024-01-02\nt: 2024-01-02T03:04:05Z\n", source="f") == {
        "d": "2024-01-02",
        "t": "2024-01-02T03:04:05Z",
    }


def test_syntax_error_names_line():
    with pytest.raises(InvalidSkillError) as info:
        load_yaml("a: 1\nb: c: d\n", source="f.yaml")
    assert info.value.message == "f.yaml: invalid YAML (line 2, column 5): mapping values are not allowed here"


def test_read_text_missing_and_directory(tmp_path):
    with pytest.raises(NotFoundError, match="no such file"):
        read_text(tmp_path / "nope.yaml")
    with pytest.raises(InvalidSkillError, match="is a directory"):
        read_text(tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (billion_laughs().encode(), "aliases (*a) are not allowed"),
        (b"apiVersion: a\napiVersion: b\n", "duplicate key 'apiVersion'"),
        (b"a: \xff\xfe\n", "not valid UTF-8 (byte 0xff on line 1)"),
        ("a: 1\n".encode("utf-16"), "file is UTF-16"),
        (b"# " + b"x" * (MAX_YAML_BYTES + 10), "larger than 1024 KiB"),
        (("x: " + "[" * 100 + "]" * 100).encode(), "nesting deeper than 64 levels"),
        (b"a: !!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
    ],
    ids=["bomb", "duplicate", "non-utf8", "utf16", "too-big", "deep", "python-tag"],
)
def test_validate_skill_turns_hostile_yaml_into_one_finding(tmp_path, content, expected):
    root = make_skill(tmp_path / "s", name="s")
    (root / "skill.yaml").write_bytes(content)
    report = validate_skill(root)
    assert not report.ok
    assert len(report.errors) == 1
    assert expected in report.errors[0].message
    assert report.errors[0].file == str(root / "skill.yaml")


def test_yaml_1_1_booleans_are_words_and_dates_are_text():
    # YAML 1.2 (the Go tool's yaml.v3, the agents' parsers): only true/false are booleans.
    assert load_yaml("a: yes\nb: No\nc: on\nd: OFF\ne: true\nf: 2024-01-01\n", source="f") == {
        "a": "yes",
        "b": "No",
        "c": "on",
        "d": "OFF",
        "e": True,
        "f": "2024-01-01",
    }


def test_the_text_loader_reads_every_plain_scalar_as_text_but_null():
    from skillctl.core.yamlsafe import TextLoader

    doc = load_yaml("a: 1.0\nb: 12\nc: true\nd: ~\ne:\nf: [1, x]\ng: !!int 3\n", source="f", loader=TextLoader)
    assert doc == {"a": "1.0", "b": "12", "c": "true", "d": None, "e": None, "f": ["1", "x"], "g": 3}
    with pytest.raises(InvalidSkillError, match="aliases"):  # still the strict loader underneath
        load_yaml("a: &x 1\nb: *x\n", source="f", loader=TextLoader)
