"""SkillCard schema and semver validation: every problem at once, each with its field path."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import semver
import yaml
from helpers import make_skill

from skillctl import SkillCard, validate_skill
from skillctl.card.skillcard import API_VERSION, KIND, dump_card, is_semver, load_schema, validate_card_data

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_DIRS = sorted(p for p in EXAMPLES.iterdir() if (p / "skill.yaml").is_file())

VALID = {
    "apiVersion": "skillimage.io/v1alpha1",
    "kind": "SkillCard",
    "metadata": {
        "name": "pdf-tools",
        "namespace": "acme/docs",
        "version": "1.2.3",
        "description": "Work with PDF files.",
        "display-name": "PDF Tools",
        "license": "MIT",
        "compatibility": "claude",
        "tags": ["pdf", "documents"],
        "authors": [{"name": "Jane", "email": "jane@example.com"}, {"name": "Bob"}],
        "allowed-tools": "Bash Read",
    },
    "provenance": {"source": "https://example.com/repo", "commit": "abc123", "path": "skills/pdf"},
    "spec": {
        "prompt": "SKILL.md",
        "examples": [{"input": "hi", "output": "hello"}],
        "dependencies": [{"name": "acme/other", "version": "1.0.0"}],
    },
}


def card(**metadata) -> dict:
    doc = copy.deepcopy(VALID)
    for key, value in metadata.items():
        if value is None:
            del doc["metadata"][key]
        else:
            doc["metadata"][key] = value
    return doc


def fields(findings) -> list[str]:
    return [f.field for f in findings]


def test_full_card_is_valid():
    assert validate_card_data(VALID) == []


def test_minimal_card_is_valid():
    doc = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": "a", "namespace": "b", "version": "0.0.1", "description": "d"},
    }
    assert validate_card_data(doc) == []


def test_every_error_is_reported_at_once_with_its_field_path():
    doc = copy.deepcopy(VALID)
    doc["apiVersion"] = "skillimage.io/v1"
    doc["kind"] = "Card"
    doc["metadata"].update({"name": "Bad_Name", "version": "1.0", "description": "", "foo": 1})
    del doc["metadata"]["namespace"]
    doc["metadata"]["authors"] = [{"email": "x@example.com"}]
    doc["spec"]["tools"] = ["bash"]
    findings = validate_card_data(doc, file="skill.yaml")
    assert fields(findings) == [
        "apiVersion",
        "kind",
        "metadata.authors.0.name",
        "metadata.description",
        "metadata.foo",
        "metadata.name",
        "metadata.namespace",
        "metadata.version",
        "spec.tools",
    ]
    by_field = {f.field: f for f in findings}
    assert by_field["metadata.foo"].message == "unknown field"
    assert by_field["spec.tools"].message == "unknown field"
    assert by_field["metadata.namespace"].message == "required field is missing"
    assert by_field["metadata.description"].message == "must not be empty"
    assert "'Bad_Name'" in by_field["metadata.name"].message
    assert "invalid semantic version '1.0'" in by_field["metadata.version"].message
    assert "'skillimage.io/v1alpha1'" in by_field["apiVersion"].message
    assert all(f.file == "skill.yaml" and f.severity == "error" for f in findings)
    assert str(by_field["metadata.foo"]) == "skill.yaml: metadata.foo: unknown field"


def test_several_unknown_keys_each_get_their_own_path():
    doc = copy.deepcopy(VALID)
    doc["metadata"]["foo"] = 1
    doc["metadata"]["bar"] = 2
    doc["extra"] = True
    doc["provenance"]["branch"] = "main"
    doc["spec"]["resources"] = []
    doc["spec"]["tools"] = []
    assert fields(validate_card_data(doc)) == [
        "extra",
        "metadata.bar",
        "metadata.foo",
        "provenance.branch",
        "spec.resources",
        "spec.tools",
    ]


@pytest.mark.parametrize(
    "version", ["1.0", "1", "v1.0.0", "01.0.0", "1.02.0", "1.0.0-", "1.2.3.4", "latest", "1.0.0-01"]
)
def test_version_must_be_strict_semver(version):
    findings = validate_card_data(card(version=version))
    assert fields(findings) == ["metadata.version"]
    assert f"invalid semantic version {version!r}" in findings[0].message


SEMVER_EDGES = [
    *("0.0.0", "1.2.3", "99999999999999999999.0.0", "1.0.0-0", "1.0.0-0a", "1.0.0-a-b.0.--", "1.0.0-x.7.z.92"),
    *("1.0.0+001", "1.0.0+-", "1.0.0-rc.1+build.1.2", "1.0.0--", "1.0.0-a.b+c.d"),
    *("", " 1.0.0", "1.0.0 ", "1.0.0\n", "1.0", "1", "v1.0.0", "01.0.0", "1.01.0", "1.0.01", "1.0.0-01"),
    *("1.0.0-", "1.0.0+", "1.0.0-a..b", "1.0.0+a..b", "1.0.0-a_b", "1.0.0+a_b", "1.0.0-é", "\u0661.0.0"),
    *("1.0.0-rc.1.", "1.0.0-.rc", "-1.0.0", "1.0.0.0", "1.0.0+b+c", "1.0.0-00", "1.0.0-0.01"),
]


@pytest.mark.parametrize("version", SEMVER_EDGES)
def test_the_version_check_agrees_with_semver(version):
    """``is_semver`` spares validate and pack importing semver; it must accept exactly what semver parses."""
    try:
        semver.Version.parse(version)
        parses = True
    except ValueError:
        parses = False
    assert is_semver(version) is parses


@pytest.mark.parametrize("version", ["0.0.1", "1.2.3", "10.20.30", "1.0.0-rc.1", "1.0.0-alpha+build.5", "2.0.0+b1"])
def test_strict_semver_versions_are_accepted(version):
    assert validate_card_data(card(version=version)) == []


def test_a_number_from_another_yaml_reader_gets_a_quoting_hint():
    doc = yaml.safe_load(
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCard\nmetadata:\n"
        "  name: a\n  namespace: b\n  version: 1.0\n  description: d\n"
    )
    findings = validate_card_data(doc)
    assert fields(findings) == ["metadata.version"]
    assert findings[0].message == 'must be text, not the number 1.0 (quote it, e.g. "1.0.0")'


def test_unquoted_scalars_in_a_skill_yaml_are_text_as_the_go_tool_reads_them(tmp_path):
    # yaml.v3 decodes any scalar into a string field: `version: 1.0` is "1.0" (not semver),
    # and the YAML 1.1 booleans yes/no/on/off are words, not true/false.
    root = make_skill(tmp_path / "s", name="s")
    card_path = root / "skill.yaml"
    text = card_path.read_text()
    card_path.write_text(text.replace("version: 1.0.0", "version: 1.0").replace("name: s", "name: yes"))
    findings = validate_skill(root).errors
    assert [(f.field, f.message) for f in findings] == [
        ("metadata.version", "invalid semantic version '1.0' (want MAJOR.MINOR.PATCH, e.g. 1.0.0)")
    ]


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "true", "y", "123"])
def test_words_yaml_1_1_reads_as_booleans_are_names_and_descriptions(tmp_path, word):
    root = make_skill(tmp_path / word, name="x")
    card_path = root / "skill.yaml"
    lines = card_path.read_text().splitlines()
    lines = [f"  name: {word}" if ln.startswith("  name:") else ln for ln in lines]
    lines = [f"  description: {word}" if ln.startswith("  description:") else ln for ln in lines]
    card_path.write_text("\n".join(lines) + "\n")
    report = validate_skill(root)
    assert report.card is not None, [str(f) for f in report.errors]
    assert (report.card.name, report.card.description) == (word, word)


@pytest.mark.parametrize(
    ("snippet", "field", "message"),
    [
        (
            "metadata:\n",
            "metadata",
            "is empty; it must be a mapping (indented 'key: value' lines) with name, namespace, version, description",
        ),
        (
            "metadata:\n  name: s\n  namespace: t\n  version: 1.0.0\n  description: d\n  tags: pdf\n",
            "metadata.tags",
            "must be a list, not the text 'pdf'",
        ),
        (
            "metadata:\n  name: s\n  namespace: t\n  version: 1.0.0\n  description:\n",
            "metadata.description",
            "is empty; it must be text",
        ),
    ],
)
def test_type_errors_are_said_in_plain_words(tmp_path, snippet, field, message):
    root = make_skill(tmp_path / "s", name="s")
    (root / "skill.yaml").write_text(f"apiVersion: {API_VERSION}\nkind: {KIND}\n{snippet}")
    findings = validate_skill(root).errors
    assert [(f.field, f.message) for f in findings] == [(field, message)]
    assert "NoneType" not in str(findings) and "a object" not in str(findings)


@pytest.mark.parametrize("name", ["Hello", "a--b", "-a", "a-", "a b", "a_b", "a.b", "x" * 65, ""])
def test_bad_names(name):
    findings = validate_card_data(card(name=name))
    assert fields(findings) == ["metadata.name"] * len(findings)
    assert findings


@pytest.mark.parametrize("namespace", ["acme", "acme/team", "a1/b-2/c3"])
def test_good_namespaces(namespace):
    assert validate_card_data(card(namespace=namespace)) == []


@pytest.mark.parametrize("namespace", ["Acme", "acme//x", "/acme", "acme/", "ac me"])
def test_bad_namespaces(namespace):
    assert fields(validate_card_data(card(namespace=namespace))) == ["metadata.namespace"]


def test_missing_required_fields_are_all_named():
    findings = validate_card_data({"apiVersion": API_VERSION, "kind": KIND, "metadata": {}})
    assert fields(findings) == ["metadata.description", "metadata.name", "metadata.namespace", "metadata.version"]
    assert {f.message for f in findings} == {"required field is missing"}


def test_missing_top_level_fields():
    assert fields(validate_card_data({})) == ["apiVersion", "kind", "metadata"]


@pytest.mark.parametrize("doc", [None, [], "text", 3])
def test_non_mapping_document(doc):
    findings = validate_card_data(doc)
    assert fields(findings) == ["(root)"]


def test_wrong_types_are_reported_with_path():
    doc = card(tags="pdf", authors={"name": "x"})
    doc["spec"]["examples"] = [{"input": 1}]
    assert fields(validate_card_data(doc)) == ["metadata.authors", "metadata.tags", "spec.examples.0.input"]


def test_schema_is_draft_2020_12_and_closed():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://skillimage.io/schemas/skillcard-v1.json"
    assert schema["additionalProperties"] is False
    assert schema["properties"]["metadata"]["additionalProperties"] is False
    assert schema["properties"]["spec"]["additionalProperties"] is False


def test_dump_card_uses_the_go_field_order_and_round_trips():
    shuffled = {
        "spec": dict(reversed(list(VALID["spec"].items()))),
        "metadata": dict(reversed(list(VALID["metadata"].items()))),
        "kind": KIND,
        "provenance": VALID["provenance"],
        "apiVersion": API_VERSION,
    }
    text = dump_card(shuffled)
    loaded = yaml.safe_load(text)
    assert loaded == VALID
    assert list(loaded) == ["apiVersion", "kind", "metadata", "provenance", "spec"]
    assert list(loaded["metadata"]) == [
        "name",
        "display-name",
        "namespace",
        "version",
        "description",
        "license",
        "compatibility",
        "tags",
        "authors",
        "allowed-tools",
    ]
    assert list(loaded["spec"]) == ["prompt", "examples", "dependencies"]


def test_skillcard_properties():
    sc = SkillCard(VALID)
    assert (sc.name, sc.namespace, sc.version) == ("pdf-tools", "acme/docs", "1.2.3")
    assert sc.repository == "acme/docs/pdf-tools"
    assert sc.prompt == "SKILL.md"
    assert sc.provenance["commit"] == "abc123"
    no_spec = {k: v for k, v in VALID.items() if k != "spec"}
    assert SkillCard(no_spec).prompt == "SKILL.md"
    assert SkillCard(no_spec | {"provenance": None}).provenance == {}


def test_validate_skill_reports_card_errors_from_the_file(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "skill.yaml").write_text(
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCard\nmetadata:\n  name: Bad\n  namespace: t\n"
        "  version: '1.0'\n  description: d\n  foo: 1\nspec:\n  tools: []\n"
    )
    (root / "SKILL.md").write_text("---\nname: bad\ndescription: d\n---\nbody\n")
    report = validate_skill(root)
    assert not report.ok
    assert report.card is None
    assert [f.field for f in report.errors] == ["metadata.foo", "metadata.name", "metadata.version", "spec.tools"]
    assert {f.file for f in report.errors} == {str(root / "skill.yaml")}


def test_examples_dir_is_not_empty():
    assert any(p.name == "hello-world" for p in EXAMPLE_DIRS)


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=lambda p: p.name)
def test_every_example_validates(example):
    report = validate_skill(example)
    assert report.errors == [], [str(f) for f in report.errors]
    assert report.card is not None
    assert report.document is not None and report.document.frontmatter
    # The card keeps the upstream shape: a JSON round trip validates too.
    assert validate_card_data(json.loads(json.dumps(dict(report.card.data)))) == []
