"""``skillctl kube`` against a real registry: references pinned to the registry's digests, valid Kubernetes YAML.

The digests the tests expect are read from the registry directly (``Registry.digest``), never through skillctl.
"""

from __future__ import annotations

import copy
import time
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
from skillctl.lifecycle.promote import promote
from skillctl.registry import transfer

pytestmark = pytest.mark.integration

VERSIONS = ("1.35.0", "1.36.0")
OPTS = RegistryOptions(tls_verify=False, timeout=120)
AGENT = "registry.example.com/agent:2"


def validate(doc: dict, version: str) -> None:
    used = kubernetes_validate.validate(copy.deepcopy(doc), version, strict=True)
    assert used == version.rsplit(".", 1)[0]


def kube(store: Path, *args: str):
    argv = ["--store", str(store), "kube", *args, "--tls-verify=false", "--timeout", "60"]
    return CliRunner().invoke(cli, argv, catch_exceptions=False, prog_name="skillctl")


def ok_yaml(result) -> dict:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return yaml.safe_load(result.stdout)


def references(doc: dict) -> dict[str, str]:
    """mount path -> volume reference, for any kind."""
    spec = doc["spec"] if doc.get("kind") == "Pod" else doc["spec"]["template"]["spec"]
    volumes = {v["name"]: v["image"]["reference"] for v in spec["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for c in spec["containers"] for m in c["volumeMounts"]}


def push_skill(tmp_path: Path, store: skillctl.Store, ref: str, name: str, version: str = "1.0.0") -> str:
    """Pack a fresh skill and push it to ``ref``; returns the digest the registry reports."""
    src = unique_skill(tmp_path / "src" / f"{name}-{version}-{time.monotonic_ns()}", name, version=version)
    image = skillctl.pack(src, store=store)
    transfer.push(image.ref, ref, store=store, opts=OPTS)
    return image.digest


@pytest.fixture
def skills(tmp_path, store, registry: Registry) -> dict[str, str]:
    """Two skills in the registry: tag reference -> the registry's digest."""
    refs = {}
    for name in ("hello-world", "log-triage"):
        ref = f"{registry.repo(name)}:1.0.0"
        push_skill(tmp_path, store, ref, name)
        digest = registry.digest(ref)
        assert digest is not None
        refs[ref] = digest
    return refs


def pinned(ref: str, digest: str) -> str:
    """``HOST/ns/name:tag`` -> ``HOST/ns/name@digest``."""
    return f"{ref.rsplit(':', 1)[0]}@{digest}"


@pytest.mark.parametrize("kind", ["pod", "deployment", "patch"])
def test_references_are_pinned_to_the_registry_digests(skills, store_path, kind):
    doc = ok_yaml(kube(store_path, *skills, "--kind", kind, "--image", AGENT))
    expected = {f"/skills/{ref.rsplit('/', 1)[1].split(':')[0]}": pinned(ref, d) for ref, d in skills.items()}
    assert references(doc) == expected
    for version in VERSIONS:
        if kind == "patch":
            base = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "agent"},
                "spec": {
                    "selector": {"matchLabels": {"app": "agent"}},
                    "template": {
                        "metadata": {"labels": {"app": "agent"}},
                        "spec": {"containers": [{"name": "agent", "image": AGENT}]},
                    },
                },
            }
            merged = copy.deepcopy(base)
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            merged["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = container["volumeMounts"]
            merged["spec"]["template"]["spec"]["volumes"] = doc["spec"]["template"]["spec"]["volumes"]
            validate(merged, version)
        else:
            validate(doc, version)


def test_custom_mount_root_name_and_container(skills, store_path):
    doc = ok_yaml(
        kube(
            store_path,
            *skills,
            "--kind",
            "deployment",
            "--image",
            AGENT,
            "--name",
            "triage-bot",
            "--mount-root",
            "/opt/skills",
            "--container",
            "worker",
        )
    )
    for version in VERSIONS:
        validate(doc, version)
    assert doc["metadata"]["name"] == "triage-bot"
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "worker"
    assert sorted(references(doc)) == ["/opt/skills/hello-world", "/opt/skills/log-triage"]
    assert set(references(doc).values()) == {pinned(r, d) for r, d in skills.items()}


def test_no_pin_keeps_the_tags(skills, store_path):
    doc = ok_yaml(kube(store_path, *skills, "--no-pin", "--image", AGENT))
    assert sorted(references(doc).values()) == sorted(skills)
    for version in VERSIONS:
        validate(doc, version)


def test_a_digest_reference_is_kept(skills, store_path):
    ref, digest = next(iter(skills.items()))
    by_digest = pinned(ref, digest)
    doc = ok_yaml(kube(store_path, by_digest, "--image", AGENT))
    assert list(references(doc).values()) == [by_digest]


def test_a_promotion_does_not_change_a_pinned_manifest(tmp_path, store, store_path, registry):
    """``latest`` moves when a newer version is published; what was generated before keeps its digest."""
    repo = registry.repo("mover")
    push_skill(tmp_path, store, f"{repo}:1.0.0-draft", "mover", "1.0.0")
    promote(f"{repo}:1.0.0-draft", to="testing", store=store, opts=OPTS)
    promote(f"{repo}:1.0.0-testing", to="published", store=store, opts=OPTS)
    first = registry.digest(f"{repo}:latest")
    assert first == registry.digest(f"{repo}:1.0.0")
    before = ok_yaml(kube(store_path, f"{repo}:latest", "--image", AGENT))
    assert references(before) == {"/skills/mover": f"{repo}@{first}"}
    assert before["spec"]["volumes"][0]["image"]["pullPolicy"] == "IfNotPresent"

    push_skill(tmp_path, store, f"{repo}:1.1.0-draft", "mover", "1.1.0")
    promote(f"{repo}:1.1.0-draft", to="testing", store=store, opts=OPTS)
    promote(f"{repo}:1.1.0-testing", to="published", store=store, opts=OPTS)
    second = registry.digest(f"{repo}:latest")
    assert second == registry.digest(f"{repo}:1.1.0")
    assert second != first

    assert references(before) == {"/skills/mover": f"{repo}@{first}"}  # the saved manifest is untouched
    after = ok_yaml(kube(store_path, f"{repo}:latest", "--image", AGENT))
    assert references(after) == {"/skills/mover": f"{repo}@{second}"}
    # Without pinning the manifest would not notice at all.
    unpinned = ok_yaml(kube(store_path, f"{repo}:latest", "--image", AGENT, "--no-pin"))
    assert references(unpinned) == {"/skills/mover": f"{repo}:latest"}
    assert unpinned["spec"]["volumes"][0]["image"]["pullPolicy"] == "Always"


def test_a_promotion_to_testing_moves_the_testing_tag(tmp_path, store, store_path, registry):
    """``1.0.0-testing`` held an older build; promoting the new draft moves it, a new manifest follows."""
    repo = registry.repo("retest")
    push_skill(tmp_path, store, f"{repo}:1.0.0-testing", "retest")  # an earlier build, pushed by hand
    old = registry.digest(f"{repo}:1.0.0-testing")
    before = ok_yaml(kube(store_path, f"{repo}:1.0.0-testing", "--kind", "patch"))
    push_skill(tmp_path, store, f"{repo}:1.0.0-draft", "retest")
    promote(f"{repo}:1.0.0-draft", to="testing", store=store, opts=OPTS)
    new = registry.digest(f"{repo}:1.0.0-testing")
    assert new not in (None, old)
    assert references(before) == {"/skills/retest": f"{repo}@{old}"}
    after = ok_yaml(kube(store_path, f"{repo}:1.0.0-testing", "--kind", "patch"))
    assert references(after) == {"/skills/retest": f"{repo}@{new}"}


def test_pushing_another_image_to_the_tag(tmp_path, store, store_path, registry):
    ref = f"{registry.repo('retag')}:2.0.0"
    push_skill(tmp_path, store, ref, "retag", "2.0.0")
    old = registry.digest(ref)
    before = kube(store_path, ref, "--kind", "patch").stdout
    push_skill(tmp_path, store, ref, "retag", "2.0.0")
    new = registry.digest(ref)
    assert new not in (None, old)
    assert f"@{old}" in before and f"@{new}" not in before
    after = kube(store_path, ref, "--kind", "patch").stdout
    assert f"@{new}" in after and f"@{old}" not in after


def test_duplicate_skill_names_exit_9(tmp_path, store, skills, store_path, registry):
    ref = next(iter(skills))
    other = f"{registry.repo('hello-world')}:2.0.0"  # another repository, the same skill name
    push_skill(tmp_path, store, other, "hello-world", "2.0.0")
    result = kube(store_path, ref, other, "--image", AGENT)
    assert result.exit_code == ExitCode.CONFLICT, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "same path" in result.stderr


def test_a_reference_without_registry_exits_2(skills, store_path):
    result = kube(store_path, next(iter(skills)), "test/hello-world:1.0.0", "--image", AGENT)
    assert result.exit_code == ExitCode.USAGE, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "test/hello-world:1.0.0" in result.stderr


def test_a_missing_tag_fails_without_output(skills, store_path, registry):
    result = kube(store_path, next(iter(skills)), f"{registry.repo('absent')}:1.0.0", "--image", AGENT)
    assert result.exit_code == ExitCode.NOT_FOUND, (result.stdout, result.stderr)
    assert result.stdout == ""


def test_pod_without_image_exits_2_before_asking_the_registry(store_path, down_registry):
    started = time.monotonic()
    result = kube(store_path, f"{down_registry}/ns/hello:1.0.0", "--kind", "pod")
    assert result.exit_code == ExitCode.USAGE, (result.stdout, result.stderr)
    assert "--image" in result.stderr
    assert result.stdout == ""
    assert time.monotonic() - started < 5
