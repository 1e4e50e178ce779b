"""spec.dependencies: what validate reports, the annotation pack writes, and how names become repositories."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from helpers import make_skill

from skillctl import Store, pack, validate_skill
from skillctl.card.dependencies import absolute, from_annotation
from skillctl.cli.app import cli
from skillctl.core import oci
from skillctl.core.errors import UsageError


def with_deps(root, deps: str):
    card = root / "skill.yaml"
    card.write_text(card.read_text() + "  dependencies:\n" + deps)
    return root


def test_valid_dependencies_pass_and_are_annotated(tmp_path) -> None:
    skill = with_deps(
        make_skill(tmp_path / "app", "app"),
        "    - name: lib\n      version: ^1.2\n"
        "    - name: acme/other\n      version: '>=1.0.0 <3'\n"
        "    - name: quay.io/acme/tool\n      version: 2.0.0\n",
    )
    report = validate_skill(skill)
    assert report.ok, [str(f) for f in report.findings]
    result = pack(skill, store=Store(tmp_path / "store"))
    value = result.manifest.annotations[oci.DEPENDENCIES]
    assert json.loads(value) == [
        {"name": "lib", "version": "^1.2"},
        {"name": "acme/other", "version": ">=1.0.0 <3"},
        {"name": "quay.io/acme/tool", "version": "2.0.0"},
    ]
    assert [(d.name, d.range.text) for d in from_annotation(value, source="x")] == [
        ("lib", "^1.2"),
        ("acme/other", ">=1.0.0 <3"),
        ("quay.io/acme/tool", "2.0.0"),
    ]


def test_no_dependencies_no_annotation(tmp_path) -> None:
    result = pack(make_skill(tmp_path / "app", "app"), store=Store(tmp_path / "store"))
    assert oci.DEPENDENCIES not in result.manifest.annotations


def test_every_dependency_problem_is_reported_with_its_field(tmp_path) -> None:
    skill = with_deps(
        make_skill(tmp_path / "app", "app", namespace="acme"),
        "    - name: Not_A_Ref!\n      version: ^1\n"
        "    - name: lib:1.0.0\n      version: ^1\n"
        "    - name: lib\n      version: banana\n"
        "    - name: acme/app\n      version: ^1\n"
        "    - name: lib\n      version: ^2\n"
        "    - name: other\n",
    )
    report = validate_skill(skill)
    card = str(skill / "skill.yaml")
    problems = {(f.field, f.severity) for f in report.findings}
    assert problems == {
        ("spec.dependencies.0.name", "error"),
        ("spec.dependencies.1.name", "error"),
        ("spec.dependencies.2.version", "error"),
        ("spec.dependencies.3.name", "error"),
        ("spec.dependencies.4.name", "error"),
        ("spec.dependencies.5.version", "error"),
    }
    text = {f.field: f.message for f in report.findings}
    assert "tag or digest" in text["spec.dependencies.1.name"]
    assert "invalid version range 'banana'" in text["spec.dependencies.2.version"]
    assert "this skill itself" in text["spec.dependencies.3.name"]
    assert "listed twice" in text["spec.dependencies.4.name"]
    assert text["spec.dependencies.5.version"] == "required field is missing"
    assert all(f.file == card for f in report.findings)

    result = CliRunner().invoke(cli, ["validate", str(skill)], prog_name="skillctl")
    assert result.exit_code == 3
    assert f"{card}: spec.dependencies.2.version: invalid version range 'banana'" in result.stderr


@pytest.mark.parametrize(
    ("name", "dependent", "expected"),
    [
        ("lib", "reg.example:5000/acme/app", "reg.example:5000/acme/lib"),
        ("tools/lib", "reg.example:5000/acme/team/app", "reg.example:5000/tools/lib"),
        ("quay.io/x/lib", "reg.example:5000/acme/app", "quay.io/x/lib"),
        ("localhost:5000/x/lib", "reg.example:5000/acme/app", "localhost:5000/x/lib"),
        ("lib", "acme/app", "acme/lib"),
    ],
)
def test_names_resolve_against_the_dependent(name: str, dependent: str, expected: str) -> None:
    assert absolute(name, dependent) == expected


def test_bad_annotation_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match="not JSON"):
        from_annotation("{", source="x")
    with pytest.raises(UsageError, match="dependency 0"):
        from_annotation('[{"name": "a:b:c", "version": "1"}]', source="x")
