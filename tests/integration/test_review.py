"""Review tools: lint on a corpus of planted problems (and none on the examples), diff between two versions, on
directories and on images from the store and a real registry."""

from __future__ import annotations

import json
import secrets
import shutil
import string
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import EXAMPLES
from helpers import make_skill
from registry import Registry, unique_skill

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.registry import transfer

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
FIFTY_MB = 50 * 1024 * 1024


def run(tmp_path: Path, *args: object) -> Result:
    return CliRunner().invoke(cli, ["--store", str(tmp_path / "store"), *map(str, args)])


def fake_aws_key() -> str:
    """Made at test time, never committed: a well-formed access key ID that belongs to no one."""
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))


def planted(root: Path) -> tuple[Path, str]:
    key = fake_aws_key()
    body = "\n".join(
        [
            "# demo",
            "",
            "See [the guide](references/guide.md) and [the checklist](references/present.md#steps).",
            "Images: ![diagram](assets/diagram%20v2.png) and [outside](../notes.md).",
            "External: [docs](https://example.com/docs) and [mail](mailto:x@example.com), [top](#demo).",
            "```",
            "[not a link](missing-in-code.md)",
            "```",
            *[f"line {i}" for i in range(600)],
        ]
    )
    skill = make_skill(root, "demo", files={
        "references/present.md": "# Steps\n",
        "config/aws.env": f"region = eu-west-1\naws_access_key_id = {key}\n",
        "scripts/noexec.sh": "#!/bin/sh\necho hi\n",
        "scripts/run": "echo no shebang\n",
        "secrets/token.txt": "not really a token\n",
        ".hidden.env": f"aws_access_key_id = {fake_aws_key()}\n",  # hidden: never packed, so not reported
    })  # fmt: skip
    (skill / "SKILL.md").write_text((skill / "SKILL.md").read_text() + body + "\n")
    (skill / "scripts/noexec.sh").chmod(0o644)
    (skill / "scripts/run").chmod(0o755)
    (skill / "secrets/token.txt").chmod(0o600)
    (skill / "assets").mkdir()
    with (skill / "assets" / "big.bin").open("wb") as fh:
        fh.truncate(FIFTY_MB)  # 50 MB, generated here (sparse: no disk cost)
    return skill, key


def test_lint_finds_every_planted_problem(tmp_path: Path) -> None:
    skill, key = planted(tmp_path / "planted")
    result = run(tmp_path, "lint", skill, "--format", "json")
    assert result.exit_code == 3, result.stderr
    report = json.loads(result.stdout)
    assert key not in result.stdout and key not in result.stderr  # a finding never quotes the secret
    found = {(f["rule"], f["path"], f["line"]) for f in report["findings"]}
    assert ("secret", "config/aws.env", 2) in found
    assert ("oversize-file", "assets/big.bin", None) in found
    assert ("broken-link", "SKILL.md", 11) in found  # references/guide.md
    links = [f["message"] for f in report["findings"] if f["rule"] == "broken-link"]
    assert len(links) == 3, links  # the guide, the diagram, the link outside; not the fenced one, URLs or anchors
    assert any("points outside the skill" in m for m in links)
    assert any("diagram%20v2.png" in m for m in links)
    assert ("skill-md-size", "SKILL.md", None) in found
    assert ("script-exec-bit", "scripts/noexec.sh", None) in found
    assert ("script-shebang", "scripts/run", None) in found
    assert ("private-file", "secrets/token.txt", None) in found
    assert not any(".hidden" in path for _, path, _ in found)
    assert report["summary"] == {"errors": 5, "warnings": 4} and not report["passed"]
    assert report["detector"].startswith("detect-secrets ")

    sarif = json.loads(run(tmp_path, "lint", skill, "--format", "sarif").stdout)
    assert sarif["version"] == "2.1.0"
    (one_run,) = sarif["runs"]
    rules = [r["id"] for r in one_run["tool"]["driver"]["rules"]]
    for item in one_run["results"]:
        assert rules[item["ruleIndex"]] == item["ruleId"]
        assert item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert {r["ruleId"] for r in one_run["results"]} == {f[0] for f in found}

    text = run(tmp_path, "lint", skill)
    assert text.exit_code == 3
    assert "config/aws.env:2: error: possible AWS Access Key (not shown) [secret]" in text.stdout
    assert "✗" in text.stdout and "5 error(s), 4 warning(s)" in text.stdout
    assert "Error: " in text.stderr and "5 lint error(s)" in text.stderr


@pytest.mark.parametrize("example", ["hello-world", "log-triage"])
def test_lint_finds_nothing_in_the_examples(example: str, tmp_path: Path) -> None:
    result = run(tmp_path, "lint", EXAMPLES / example, "--format", "json")
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["findings"] == [] and report["passed"] and "secrets" in report["checks"]


def test_lint_an_image_in_the_registry(registry: Registry, tmp_path: Path) -> None:
    key = fake_aws_key()
    skill = unique_skill(tmp_path / "src")
    (skill / "notes.md").write_text(f"aws_access_key_id = {key}\n")
    (skill / "notes.md").chmod(0o600)
    store = skillctl.Store(tmp_path / "producer")
    image = skillctl.pack(skill, store=store)
    ref = f"{registry.repo('demo')}:1.0.0-draft"
    transfer.push(image.ref, ref, store=store, backend="skopeo", opts=OPTS)
    result = run(tmp_path, "lint", ref, NO_TLS, "--format", "json")
    assert result.exit_code == 3, result.stderr
    report = json.loads(result.stdout)
    assert report["digest"] == registry.digest(ref)
    # Images normalise modes to 0644/0755, so the private-file check has nothing to see there.
    assert [(f["rule"], f["path"]) for f in report["findings"]] == [("secret", "notes.md")]
    assert not (tmp_path / "store").exists() or skillctl.list_images(skillctl.Store(tmp_path / "store")) == []


def test_diff_between_two_versions(registry: Registry, tmp_path: Path) -> None:
    old = unique_skill(tmp_path / "v1", version="1.0.0")
    (old / "references").mkdir()
    (old / "references" / "gone.md").write_text("removed in 1.1.0\n")
    new = tmp_path / "v2"
    shutil.copytree(old, new)
    (new / "references" / "gone.md").unlink()
    (new / "references" / "added.md").write_text("new in 1.1.0\n")
    (new / "SKILL.md").write_text((old / "SKILL.md").read_text().replace("Do the thing.", "Do the thing twice."))
    (new / "data" / "nonce.txt").chmod(0o755)
    (new / "skill.yaml").write_text(
        (old / "skill.yaml").read_text().replace("1.0.0", "1.1.0").replace("A test skill.", "A better test skill.")
    )
    store = skillctl.Store(tmp_path / "producer")
    repo = registry.repo("demo")
    refs = {}
    for version, path in (("1.0.0", old), ("1.1.0", new)):
        image = skillctl.pack(path, store=store)
        refs[version] = f"{repo}:{version}-draft"
        transfer.push(image.ref, refs[version], store=store, backend="skopeo", opts=OPTS)

    result = run(tmp_path, "diff", refs["1.0.0"], refs["1.1.0"], NO_TLS, "--format", "json")
    assert result.exit_code == 0, result.stderr
    diff = json.loads(result.stdout)
    changes = {f["path"]: (f["change"], f["what"]) for f in diff["files"]}
    assert changes == {
        "SKILL.md": ("changed", ["content"]),
        "data/nonce.txt": ("changed", ["mode"]),
        "references/added.md": ("added", []),
        "references/gone.md": ("removed", []),
        "skill.yaml": ("changed", ["content"]),
    }
    skill_md = next(f for f in diff["files"] if f["path"] == "SKILL.md")
    assert "-Do the thing.\n+Do the thing twice.\n" in skill_md["diff"]
    assert skill_md["old"]["size"] + len(" twice") == skill_md["new"]["size"]
    mode = next(f for f in diff["files"] if f["path"] == "data/nonce.txt")
    assert (mode["old"]["mode"], mode["new"]["mode"]) == ("0644", "0755") and mode["diff"] is None
    assert {(c["field"], c["old"], c["new"]) for c in diff["skillcard"]} == {
        ("metadata.version", "1.0.0", "1.1.0"),
        ("metadata.description", "A test skill.", "A better test skill."),
    }
    notes = {c["field"]: (c["old"], c["new"]) for c in diff["annotations"]}
    assert notes["org.opencontainers.image.version"] == ("1.0.0", "1.1.0")
    assert diff["summary"] == {"added": 1, "removed": 1, "changed": 3}

    text = run(tmp_path, "diff", refs["1.0.0"], refs["1.1.0"], NO_TLS)
    assert "A references/added.md" in text.stdout and "D references/gone.md" in text.stdout
    assert "mode 0644 -> 0755" in text.stdout and "+++ b/SKILL.md" in text.stdout

    # A directory and the image made from it are the same content; local images are read from the store.
    same = run(tmp_path, "diff", new, refs["1.1.0"], NO_TLS, "--format", "json")
    assert json.loads(same.stdout)["changed"] is False
    local = CliRunner().invoke(cli, ["--store", str(tmp_path / "producer"), "diff", "test/demo:1.0.0-draft", str(new),
                                     "--stat"])  # fmt: skip
    assert local.exit_code == 0, local.stderr
    assert "M SKILL.md" in local.stdout and "@@" not in local.stdout
