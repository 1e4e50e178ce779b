"""Skill collections (``kind: SkillCollection``) on a real registry, through the command line.

What the registry holds is read with ``Registry`` (the registry API directly), not through skillctl.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner
from registry import Registry, unique_skill

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core.errors import ExitCode
from skillctl.registry import transfer

pytestmark = pytest.mark.integration

ARTIFACT_TYPE = "application/vnd.skillimage.collection.v1+yaml"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
OPTS = RegistryOptions(tls_verify=False, timeout=120)
VERSIONS = ("1.35.0", "1.36.0")
AGENT = "registry.example.com/agent:2"
NAMES = ("hello-world", "log-triage", "pdf-tools")


class Cli:
    """``skillctl --store STORE ...`` with the test registry's options."""

    def __init__(self, store: Path) -> None:
        self.store = store

    def __call__(self, *args: object, registry: bool = True):
        argv = ["--store", str(self.store), *(str(a) for a in args)]
        if registry:
            argv += ["--tls-verify=false", "--timeout", "60"]
        return CliRunner().invoke(cli, argv, catch_exceptions=False, prog_name="skillctl")

    def ok(self, *args: object, registry: bool = True) -> str:
        result = self(*args, registry=registry)
        assert result.exit_code == 0, (args, result.exit_code, result.stdout, result.stderr)
        return result.stdout


@pytest.fixture
def run(store_path: Path) -> Cli:
    return Cli(store_path)


@pytest.fixture
def fresh(tmp_path: Path) -> Cli:
    """Another user: an empty store, so everything comes from the registry."""
    return Cli(tmp_path / "other-store")


@pytest.fixture
def skills(tmp_path: Path, store: skillctl.Store, registry: Registry) -> dict[str, dict]:
    """Three skills pushed to the registry: name -> {ref, digest, src}."""
    out = {}
    for name in NAMES:
        src = unique_skill(tmp_path / "src" / name, name)
        image = skillctl.pack(src, store=store)
        ref = f"{registry.repo(name)}:1.0.0"
        transfer.push(image.ref, ref, store=store, opts=OPTS)
        digest = registry.digest(ref)
        assert digest is not None
        out[name] = {"ref": ref, "digest": digest, "src": src}
    return out


def collection_yaml(
    skills: dict[str, dict], name: str = "ops-skills", *, unnamed: bool = False, **overrides: str
) -> str:
    """A collection of ``skills``, each entry with ``name:`` (its skill's, or from ``overrides``).

    ``unnamed`` leaves ``name:`` out where no override is given (skillctl installs such entries
    under the image's name; the Go tool and ``collection push`` refuse them).
    """
    lines = [
        "apiVersion: skillimage.io/v1alpha1",
        "kind: SkillCollection",
        "metadata:",
        f"  name: {name}",
        "  version: 1.0.0",
        "  description: What the on-call agent needs",
        "skills:",
    ]
    for skill, info in skills.items():
        lines.append(f"  - image: {info['ref']}")
        if skill in overrides or not unnamed:
            lines.append(f"    name: {overrides.get(skill, skill)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def coll_file(tmp_path: Path, skills: dict[str, dict]) -> Path:
    path = tmp_path / "collection.yaml"
    path.write_text(collection_yaml(skills))
    return path


@pytest.fixture
def pushed(run: Cli, registry: Registry, coll_file: Path) -> str:
    ref = f"{registry.repo('ops-skills')}:1.0.0"
    run.ok("collection", "push", ref, "-f", coll_file)
    return ref


def pinned(info: dict) -> str:
    return f"{info['ref'].rsplit(':', 1)[0]}@{info['digest']}"


def same_tree(a: Path, b: Path) -> None:
    """Same files, bytes and exec bits; skill.yaml as a card apart from the provenance install records."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*"))
    files_b = sorted(p.relative_to(b) for p in b.rglob("*"))
    assert files_a == files_b
    for rel in files_a:
        if rel.name == "skill.yaml" and rel.parent == Path("."):
            cards = [yaml.safe_load((root / rel).read_bytes()) for root in (a, b)]
            for card in cards:
                card.pop("provenance", None)
            assert cards[0] == cards[1]
        elif (a / rel).is_file():
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
            assert (a / rel).stat().st_mode & 0o111 == (b / rel).stat().st_mode & 0o111, rel


def installed_names(root: Path) -> list[str]:
    """The entries of an install directory apart from the receipts: no leftovers of any kind."""
    return sorted(p.name for p in root.iterdir() if p.name != ".skillimage")


def receipt(root: Path, name: str) -> dict:
    return json.loads((root / ".skillimage" / "receipts" / f"{name}.json").read_text())


# -- push -----------------------------------------------------------------------------------------


def test_push_stores_the_go_tools_artifact(run, registry, coll_file):
    ref = f"{registry.repo('ops-skills')}:1.0.0"
    out = run.ok("collection", "push", ref, "-f", coll_file)
    digest = registry.digest(ref)
    assert digest is not None
    assert f"Digest: {digest}" in out
    assert "ops-skills" in out and "3 skills" in out

    manifest = registry.manifest_json(ref)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["artifactType"] == ARTIFACT_TYPE
    repo = ref.rsplit(":", 1)[0]
    config = manifest["config"]
    assert config["mediaType"] == EMPTY_CONFIG
    assert registry.blob(repo, config["digest"]) == b"{}"
    assert config == {"mediaType": EMPTY_CONFIG, "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(), "size": 2}
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == ARTIFACT_TYPE
    assert registry.blob(repo, layer["digest"]) == coll_file.read_bytes()
    assert layer["size"] == len(coll_file.read_bytes())
    annotations = manifest["annotations"]
    assert annotations["org.opencontainers.image.title"] == "ops-skills"
    assert annotations["org.opencontainers.image.version"] == "1.0.0"
    assert annotations["org.opencontainers.image.description"] == "What the on-call agent needs"


def test_push_json_and_quiet(run, registry, coll_file):
    ref = f"{registry.repo('ops-skills')}:1.0.0"
    data = json.loads(run.ok("collection", "push", ref, "-f", coll_file, "--format", "json"))
    assert data == {"ref": ref, "digest": registry.digest(ref), "name": "ops-skills", "skills": 3}
    assert run.ok("collection", "push", ref, "-f", coll_file, "-q").strip() == registry.digest(ref)


# -- pull -----------------------------------------------------------------------------------------


def test_pull_lists_the_skills(fresh, pushed, skills):
    out = fresh.ok("collection", "pull", pushed)
    assert "ops-skills 1.0.0 (3 skills)" in out
    for name, info in skills.items():
        assert f"  - {name} ({info['ref']})" in out
    data = json.loads(fresh.ok("collection", "pull", pushed, "--format", "json"))
    assert data["skills"] == [{"name": n, "image": i["ref"]} for n, i in skills.items()]
    assert data["outcomes"] == []


def test_pull_with_output_unpacks_every_skill(fresh, pushed, skills, tmp_path):
    dest = tmp_path / "unpacked"
    out = fresh.ok("collection", "pull", pushed, "-o", dest)
    assert installed_names(dest) == sorted(NAMES)
    for name, info in skills.items():
        assert f"  - {name} ({info['ref']}): installed" in out
        same_tree(info["src"], dest / name)
        assert receipt(dest, name)["digest"] == info["digest"]


def test_pull_of_a_skill_image_is_not_a_collection(fresh, skills):
    result = fresh("collection", "pull", skills["hello-world"]["ref"])
    assert result.exit_code == ExitCode.INVALID, (result.stdout, result.stderr)
    assert "not a skill collection" in result.stderr


def test_pull_of_a_missing_collection(fresh, registry):
    result = fresh("collection", "pull", f"{registry.repo('nothing')}:1.0.0")
    assert result.exit_code == ExitCode.NOT_FOUND, (result.stdout, result.stderr)
    assert result.stdout == ""


# -- volume ---------------------------------------------------------------------------------------


def podman_calls(script: str) -> list[list[str]]:
    """The argv of every podman command in ``script``, as a POSIX shell parses them."""
    stub = 'podman() { for a in "$@"; do printf "%s\\037" "$a"; done; printf "\\036"; }\n'
    result = subprocess.run(["sh", "-euc", stub + script], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return [call.split("\x1f")[:-1] for call in result.stdout.split("\x1e")[:-1]]


def test_volume_from_file_and_from_registry_are_the_same(run, fresh, pushed, coll_file, skills):
    root = "/agent skills"  # a space: every argument must be quoted
    from_file = run.ok("collection", "volume", "-f", coll_file, "--mount-root", root, registry=False)
    from_ref = fresh.ok("collection", "volume", pushed, "--mount-root", root)
    assert from_file == from_ref
    calls = podman_calls(from_file)
    expected = []
    for name, info in skills.items():
        expected.append(["pull", info["ref"]])
        expected.append(["volume", "create", "--driver", "image", "--opt", f"image={info['ref']}", f"skill-{name}"])
    mounts = []
    for name in skills:
        mounts += ["-v", f"skill-{name}:{root}/{name}:ro"]
    expected.append(["run", "--rm", *mounts, "AGENT_IMAGE"])
    assert calls == expected


def test_volume_uses_the_names_given_in_the_collection(run, tmp_path, skills):
    path = tmp_path / "named.yaml"
    path.write_text(collection_yaml(skills, **{"pdf-tools": "pdf"}))
    calls = podman_calls(run.ok("collection", "volume", "-f", path, registry=False))
    image = skills["pdf-tools"]["ref"]
    assert ["volume", "create", "--driver", "image", "--opt", f"image={image}", "skill-pdf"] in calls
    assert "skill-pdf:/skills/pdf:ro" in calls[-1]


@pytest.mark.parametrize("command", ["volume", "generate", "install"])
def test_a_reference_or_a_file_not_both(run, registry, command, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(collection_yaml({"x": {"ref": f"{registry.host}/ns/x:1.0.0"}}))
    extra = ["-o", tmp_path / "out"] if command == "install" else []
    for args in ([f"{registry.host}/ns/c:1.0.0", "-f", path], []):
        result = run("collection", command, *args, *extra)
        assert result.exit_code == ExitCode.USAGE, (args, result.stdout, result.stderr)
        assert "-f FILE" in result.stderr


# -- generate -------------------------------------------------------------------------------------


def validate(doc: dict, version: str) -> None:
    used = kubernetes_validate.validate(copy.deepcopy(doc), version, strict=True)
    assert used == version.rsplit(".", 1)[0]


def mounted(doc: dict) -> dict[str, str]:
    spec = doc["spec"] if doc.get("kind") == "Pod" else doc["spec"]["template"]["spec"]
    volumes = {v["name"]: v["image"]["reference"] for v in spec["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for c in spec["containers"] for m in c["volumeMounts"]}


def test_generate_from_file_and_from_registry(run, fresh, pushed, coll_file, skills):
    from_file = run.ok("collection", "generate", "-f", coll_file, "--image", AGENT)
    from_ref = fresh.ok("collection", "generate", pushed, "--image", AGENT)
    assert from_file == from_ref
    doc = yaml.safe_load(from_file)
    for version in VERSIONS:
        validate(doc, version)
    assert doc["kind"] == "Pod"
    assert doc["metadata"]["name"] == "ops-skills"  # the collection's name unless --name is given
    assert doc["spec"]["containers"][0]["image"] == AGENT
    assert mounted(doc) == {f"/skills/{name}": pinned(info) for name, info in skills.items()}


@pytest.mark.parametrize("kind", ["deployment", "patch"])
def test_generate_other_kinds(fresh, pushed, skills, kind):
    args = ["collection", "generate", pushed, "--kind", kind, "--name", "oncall", "--mount-root", "/srv/skills"]
    doc = yaml.safe_load(fresh.ok(*args, "--image", AGENT, "--container", "worker"))
    if kind == "patch":
        spec = doc["spec"]["template"]["spec"]
        doc = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "existing"},
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "template": {
                    "metadata": {"labels": {"app": "x"}},
                    "spec": {
                        "containers": [{**spec["containers"][0], "image": AGENT}],
                        "volumes": spec["volumes"],
                    },
                },
            },
        }
    else:
        assert doc["metadata"]["name"] == "oncall"
    for version in VERSIONS:
        validate(doc, version)
    assert doc["spec"]["template"]["spec"]["containers"][0]["name"] == "worker"
    assert mounted(doc) == {f"/srv/skills/{name}": pinned(info) for name, info in skills.items()}


def test_generate_without_pinning(fresh, pushed, skills):
    doc = yaml.safe_load(fresh.ok("collection", "generate", pushed, "--image", AGENT, "--no-pin"))
    assert mounted(doc) == {f"/skills/{name}": info["ref"] for name, info in skills.items()}


def test_generate_mounts_at_the_names_given_in_the_collection(run, tmp_path, skills):
    """Like ``volume``: an entry's ``name:`` is where it is mounted."""
    path = tmp_path / "named.yaml"
    path.write_text(collection_yaml(skills, **{"pdf-tools": "pdf"}))
    doc = yaml.safe_load(run.ok("collection", "generate", "-f", path, "--image", AGENT))
    for version in VERSIONS:
        validate(doc, version)
    assert mounted(doc)["/skills/pdf"] == pinned(skills["pdf-tools"])
    assert "/skills/pdf-tools" not in mounted(doc)


# -- install --------------------------------------------------------------------------------------


def outcome_lines(out: str) -> dict[str, str]:
    """``  - NAME (IMAGE): STATUS ...`` -> {NAME: STATUS ...}."""
    lines = {}
    for line in out.splitlines():
        if line.startswith("  - "):
            name = line[4:].split(" ", 1)[0]
            lines[name] = line.split("): ", 1)[1]
    return lines


def test_install_then_up_to_date_then_force(fresh, pushed, skills, tmp_path):
    dest = tmp_path / "agent-skills"
    out = fresh.ok("collection", "install", pushed, "-o", dest)
    assert outcome_lines(out) == dict.fromkeys(NAMES, "installed")
    assert installed_names(dest) == sorted(NAMES)
    for name, info in skills.items():
        same_tree(info["src"], dest / name)
        assert receipt(dest, name)["digest"] == info["digest"]
        assert receipt(dest, name)["source"] == info["ref"]

    before = {name: (dest / name).stat().st_ino for name in NAMES}
    stamps = {name: receipt(dest, name)["installedAt"] for name in NAMES}
    (dest / "log-triage" / "stray.txt").write_text("not part of the skill\n")
    out = fresh.ok("collection", "install", pushed, "-o", dest)
    assert outcome_lines(out) == dict.fromkeys(NAMES, "up-to-date")
    assert {name: (dest / name).stat().st_ino for name in NAMES} == before  # nothing was touched
    assert {name: receipt(dest, name)["installedAt"] for name in NAMES} == stamps
    assert (dest / "log-triage" / "stray.txt").exists()

    data = json.loads(fresh.ok("collection", "install", pushed, "-o", dest, "--format", "json"))
    assert [(o["name"], o["status"], o["detail"]) for o in data["outcomes"]] == [
        (name, "up-to-date", info["digest"]) for name, info in skills.items()
    ]

    out = fresh.ok("collection", "install", pushed, "-o", dest, "--force")
    assert outcome_lines(out) == dict.fromkeys(NAMES, "installed")
    assert not (dest / "log-triage" / "stray.txt").exists()  # replaced as a whole, no stale files
    for name, info in skills.items():
        same_tree(info["src"], dest / name)
    assert installed_names(dest) == sorted(NAMES)


def test_install_from_a_file(run, coll_file, skills, tmp_path):
    dest = tmp_path / "from-file"
    out = run.ok("collection", "install", "-f", coll_file, "-o", dest)
    assert outcome_lines(out) == dict.fromkeys(NAMES, "installed")
    assert installed_names(dest) == sorted(NAMES)


def test_install_uses_the_names_given_in_the_collection(run, skills, tmp_path):
    path = tmp_path / "named.yaml"
    path.write_text(collection_yaml(skills, **{"pdf-tools": "pdf"}))
    dest = tmp_path / "named"
    out = run.ok("collection", "install", "-f", path, "-o", dest)
    assert outcome_lines(out)["pdf"] == "installed"
    assert "pdf" in installed_names(dest) and "pdf-tools" not in installed_names(dest)
    assert (dest / ".skillimage" / "receipts" / "pdf.json").is_file()
    again = run.ok("collection", "install", "-f", path, "-o", dest)
    assert outcome_lines(again)["pdf"] == "up-to-date"


def test_entries_without_name_install_but_are_not_pushed(run, registry, skills, tmp_path):
    """The Go tool's collection install refuses image entries without name:, so push refuses to publish them."""
    path = tmp_path / "unnamed.yaml"
    path.write_text(collection_yaml(skills, unnamed=True, **{"pdf-tools": "pdf"}))
    dest = tmp_path / "unnamed"
    out = run.ok("collection", "install", "-f", path, "-o", dest)
    assert outcome_lines(out) == {"hello-world": "installed", "log-triage": "installed", "pdf": "installed"}
    repo = registry.repo("unnamed")
    refused = run("collection", "push", f"{repo}:1.0.0", "-f", path)
    assert refused.exit_code == 3, refused.stderr
    assert "image entries without name: (skills.0, skills.1)" in refused.stderr
    assert registry.tags(repo) == []


def test_an_image_without_registry_host_is_a_local_image(run, store, skills, tmp_path):
    """As in the Go tool: installed from the local store, and up to date while the store's digest is the same."""
    local = skillctl.pack(skills["hello-world"]["src"], store=store)
    path = tmp_path / "local.yaml"
    path.write_text(collection_yaml({"hello-world": {"ref": local.ref}}))
    dest = tmp_path / "local"
    assert outcome_lines(run.ok("collection", "install", "-f", path, "-o", dest)) == {"hello-world": "installed"}
    assert receipt(dest, "hello-world")["digest"] == local.digest
    assert outcome_lines(run.ok("collection", "install", "-f", path, "-o", dest)) == {"hello-world": "up-to-date"}


def test_a_moved_tag_is_installed_again(run, store, coll_file, skills, tmp_path):
    dest = tmp_path / "moved"
    run.ok("collection", "install", "-f", coll_file, "-o", dest)
    info = skills["pdf-tools"]
    newer = skillctl.pack(unique_skill(tmp_path / "src2" / "pdf-tools", "pdf-tools"), store=store)
    transfer.push(newer.ref, info["ref"], store=store, opts=OPTS)
    out = run.ok("collection", "install", "-f", coll_file, "-o", dest)
    assert outcome_lines(out) == {"hello-world": "up-to-date", "log-triage": "up-to-date", "pdf-tools": "installed"}
    assert receipt(dest, "pdf-tools")["digest"] == newer.digest != info["digest"]
    same_tree(tmp_path / "src2" / "pdf-tools", dest / "pdf-tools")


def test_one_broken_reference_among_good_ones(run, registry, skills, tmp_path):
    broken = f"{registry.repo('ghost')}:1.0.0"  # a valid reference the registry does not have
    path = tmp_path / "broken.yaml"
    good = dict(skills)
    entries = {"hello-world": good["hello-world"], "ghost": {"ref": broken}, "log-triage": good["log-triage"]}
    path.write_text(collection_yaml(entries))
    dest = tmp_path / "partial"
    result = run("collection", "install", "-f", path, "-o", dest)
    assert result.exit_code != 0
    assert result.exit_code == ExitCode.FAILURE, (result.stdout, result.stderr)
    lines = outcome_lines(result.stdout)
    assert lines["hello-world"] == "installed"
    assert lines["log-triage"] == "installed"
    assert lines["ghost"].startswith("failed (")
    assert "1 of 3 skills failed: ghost" in result.stderr
    assert installed_names(dest) == ["hello-world", "log-triage"]  # nothing half-made for ghost
    assert not (dest / ".skillimage" / "receipts" / "ghost.json").exists()
    for name in ("hello-world", "log-triage"):
        same_tree(skills[name]["src"], dest / name)


def test_a_failed_reinstall_keeps_the_installed_skill(run, registry, coll_file, skills, tmp_path):
    """Atomic per skill: a forced install whose image is gone leaves the previous copy and receipt whole."""
    dest = tmp_path / "keep"
    run.ok("collection", "install", "-f", coll_file, "-o", dest)
    kept = receipt(dest, "log-triage")
    entries = dict(skills)
    entries["log-triage"] = {"ref": skills["log-triage"]["ref"].rsplit(":", 1)[0] + ":9.9.9"}
    path = tmp_path / "newer.yaml"
    path.write_text(collection_yaml(entries))
    result = run("collection", "install", "-f", path, "-o", dest, "--force")
    assert result.exit_code == ExitCode.FAILURE, (result.stdout, result.stderr)
    lines = outcome_lines(result.stdout)
    assert lines == {"hello-world": "installed", "log-triage": lines["log-triage"], "pdf-tools": "installed"}
    assert lines["log-triage"].startswith("failed (")
    same_tree(skills["log-triage"]["src"], dest / "log-triage")
    assert receipt(dest, "log-triage") == kept
    assert installed_names(dest) == sorted(NAMES)


# -- invalid collections --------------------------------------------------------------------------

INVALID = textwrap.dedent(
    """\
    apiVersion: skillimage.io/v1alpha1
    kind: SkillCollection
    metadata:
      name: broken
      owner: someone
    skills:
      - image: {host}/ns/hello-world:1.0.0
      - name: hello-world
        image: {host}/other/greeter:1.0.0
      - image: test/local-store:1.0.0
      - image: "{host}/Bad Reference!!"
      - source: ftp://example.com/org/repo
        name: from-git
    """
)
PROBLEMS = {
    "unknown key": "owner",
    "missing metadata.version": "version",
    "duplicate names": "duplicate skill name 'hello-world'",
    "bad reference": "Bad Reference!!",
    "a source that is not a Git URL": "ftp://example.com/org/repo",
}


def check_every_problem(result) -> None:
    assert result.exit_code == ExitCode.INVALID, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    for what, fragment in PROBLEMS.items():
        assert fragment in result.stderr, (what, result.stderr)
    assert "5 problems" in result.stderr, result.stderr
    assert "local-store" not in result.stderr  # no registry host: a local-store image, as in the Go tool
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["push", "volume", "generate", "install"])
def test_invalid_collection_reports_every_problem_at_once(run, registry, tmp_path, command):
    path = tmp_path / "invalid.yaml"
    path.write_text(INVALID.format(host=registry.host))
    repo = registry.repo("broken")
    args = {
        "push": [f"{repo}:1.0.0", "-f", path],
        "volume": ["-f", path],
        "generate": ["-f", path, "--image", AGENT],
        "install": ["-f", path, "-o", tmp_path / "never"],
    }[command]
    check_every_problem(run("collection", command, *args))
    assert registry.tags(repo) == []
    assert not (tmp_path / "never").exists() or installed_names(tmp_path / "never") == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("kind: SkillCard\n", "SkillCollection"),
        ("skills: []\n", "skills"),
        ("skills:\n  - name: only-a-name\n", "'image' or 'source' is required"),
        ("skills:\n  - image: {host}/ns/x:1.0.0\n    source: https://example.com/x\n", "source"),
    ],
)
def test_single_problems(run, registry, tmp_path, body, fragment):
    head = "apiVersion: skillimage.io/v1alpha1\nmetadata:\n  name: c\n  version: '1'\n"
    if not body.startswith("kind:"):
        head += "kind: SkillCollection\n"
    path = tmp_path / "c.yaml"
    path.write_text(head + body.format(host=registry.host))
    result = run("collection", "volume", "-f", path, registry=False)
    assert result.exit_code == ExitCode.INVALID, (result.stdout, result.stderr)
    assert fragment in result.stderr


def test_same_tree_can_fail(tmp_path):
    """``same_tree`` is not a vacuous comparison."""
    a, b = tmp_path / "a", tmp_path / "b"
    unique_skill(a, "x")
    shutil.copytree(a, b)
    same_tree(a, b)
    (b / "SKILL.md").write_text("changed\n")
    with pytest.raises(AssertionError):
        same_tree(a, b)


def test_a_moved_collection_tag_is_read_again(run, fresh, pushed, skills, tmp_path):
    """Like a skill reference, a collection reference is re-read from its registry: a stale local copy is not used."""
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text(collection_yaml({"pdf-tools": skills["pdf-tools"]}, name="ops-skills"))
    fresh.ok("collection", "push", pushed, "-f", smaller)  # someone else moves the tag
    out = run.ok("collection", "pull", pushed)
    assert "(1 skills)" in out
    assert "hello-world" not in out
    assert mounted(yaml.safe_load(run.ok("collection", "generate", pushed, "--image", AGENT))) == {
        "/skills/pdf-tools": pinned(skills["pdf-tools"])
    }
    assert "hello-world" not in run.ok("collection", "volume", pushed)
