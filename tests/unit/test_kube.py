"""Kubernetes manifests for image volumes, checked against the Kubernetes API schemas of ``kubernetes-validate``.

No registry here: references that carry a digest and ``--no-pin`` need none.
The pinning itself is tested against a real registry in tests/integration/test_kube.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from skillctl.cli.app import cli
from skillctl.consume.kube import SkillMount, manifest, resolve_mounts, to_yaml
from skillctl.core.errors import ConflictError, ExitCode, UsageError

VERSIONS = ("1.35.0", "1.36.0")  # ImageVolume beta on by default, and GA


def fake_digest() -> str:
    return "sha256:" + hashlib.sha256(secrets.token_bytes(16)).hexdigest()


def validate(doc: dict[str, Any], version: str) -> None:
    """Strict validation against the Kubernetes API schema of exactly ``version``."""
    used = kubernetes_validate.validate(copy.deepcopy(doc), version, strict=True)
    assert used == version.rsplit(".", 1)[0], f"validated against {used}, not {version}"


def strategic_merge(base: Any, patch: Any, path: str = "") -> Any:
    """A small strategic merge patch: lists of named objects merge by ``name`` (``volumeMounts`` by mountPath)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value, f"{path}.{key}") if key in base else value
        return merged
    if isinstance(base, list) and isinstance(patch, list):
        key = "mountPath" if path.endswith(".volumeMounts") else "name"
        merged_list = list(base)
        for item in patch:
            at = next((i for i, old in enumerate(merged_list) if old.get(key) == item.get(key)), None)
            if at is None:
                merged_list.append(item)
            else:
                merged_list[at] = strategic_merge(merged_list[at], item, path)
        return merged_list
    return patch


def minimal_deployment(container: str = "agent") -> dict[str, Any]:
    """An existing workload a patch is applied to, with its own volume and mount."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "existing"},
        "spec": {
            "selector": {"matchLabels": {"app": "existing"}},
            "template": {
                "metadata": {"labels": {"app": "existing"}},
                "spec": {
                    "containers": [
                        {
                            "name": container,
                            "image": "registry.example.com/agent:2",
                            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                        },
                        {"name": "sidecar", "image": "registry.example.com/sidecar:1"},
                    ],
                    "volumes": [{"name": "cache", "emptyDir": {}}],
                },
            },
        },
    }


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"] if doc.get("kind") == "Pod" else doc["spec"]["template"]["spec"]


def check_mounts(spec: dict[str, Any], container: str, expected: dict[str, tuple[str, str]]) -> None:
    """``expected``: mount path -> (reference, pull policy) for the skills in ``container``."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert len(volumes) == len(spec["volumes"]), "volume names are not unique"
    (agent,) = [c for c in spec["containers"] if c["name"] == container]
    skill_mounts = [m for m in agent["volumeMounts"] if "image" in volumes[m["name"]]]
    seen = {}
    for m in skill_mounts:
        assert m["readOnly"] is True
        image = volumes[m["name"]]["image"]
        seen[m["mountPath"]] = (image["reference"], image["pullPolicy"])
    assert seen == expected
    assert len({m["name"] for m in skill_mounts}) == len(skill_mounts)


@pytest.fixture
def mounts() -> list[SkillMount]:
    return [
        SkillMount("hello-world", f"registry.example.com/skills/hello-world@{fake_digest()}", "x"),
        SkillMount("log-triage", f"registry.example.com:5000/ops/log-triage@{fake_digest()}", "y"),
        SkillMount("pdf", f"quay.io/org/team/pdf@{fake_digest()}", "z"),
    ]


def expected_for(mounts: list[SkillMount], root: str = "/skills") -> dict[str, tuple[str, str]]:
    return {f"{root}/{m.name}": (m.reference, "IfNotPresent") for m in mounts}


# -- schema validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_pod_with_several_skills_is_valid(mounts, version):
    doc = manifest(mounts, kind="pod", image="registry.example.com/agent:2")
    validate(doc, version)
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) == ("v1", "Pod", "agent")
    check_mounts(doc["spec"], "agent", expected_for(mounts))
    assert doc["spec"]["containers"][0]["image"] == "registry.example.com/agent:2"


@pytest.mark.parametrize("version", VERSIONS)
def test_deployment_with_custom_name_root_and_container_is_valid(mounts, version):
    doc = manifest(
        mounts,
        kind="deployment",
        name="triage-bot",
        image="registry.example.com/agent:2",
        mount_root="/opt/agent/skills/",
        container="worker",
    )
    validate(doc, version)
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) == ("apps/v1", "Deployment", "triage-bot")
    spec = doc["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    check_mounts(spec["template"]["spec"], "worker", expected_for(mounts, "/opt/agent/skills"))


@pytest.mark.parametrize("version", VERSIONS)
def test_patch_merged_into_a_deployment_is_valid(mounts, version):
    patch = manifest(mounts, kind="patch", container="runner", mount_root="skills")
    assert set(patch) == {"spec"}, "a patch carries no apiVersion/kind/metadata of its own"
    assert set(patch["spec"]["template"]["spec"]) == {"containers", "volumes"}
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert set(container) == {"name", "volumeMounts"}, "the patch must not override the container's image"

    merged = strategic_merge(minimal_deployment("runner"), patch)
    validate(merged, version)
    spec = merged["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["runner", "sidecar"]
    assert spec["containers"][0]["image"] == "registry.example.com/agent:2"
    assert {"name": "cache", "mountPath": "/cache"} in spec["containers"][0]["volumeMounts"]
    assert {"name": "cache", "emptyDir": {}} in spec["volumes"]
    check_mounts(spec, "runner", expected_for(mounts, "/skills"))


@pytest.mark.parametrize("version", VERSIONS)
def test_yaml_output_is_the_same_document(mounts, version):
    for kind in ("pod", "deployment", "patch"):
        doc = manifest(mounts, kind=kind, image="registry.example.com/agent:2")  # type: ignore[arg-type]
        assert yaml.safe_load(to_yaml(doc)) == doc
    validate(yaml.safe_load(to_yaml(manifest(mounts, image="a.io/agent:1"))), version)


# -- the schema really checks what we generate (negative controls) --------------------------------


def test_schema_before_image_volumes_existed_rejects_the_pod(mounts):
    doc = manifest(mounts, kind="pod", image="registry.example.com/agent:2")
    with pytest.raises(kubernetes_validate.ValidationError, match="image"):
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d["spec"]["volumes"][0]["image"].update(oci=True),  # the alpha-era field name
        lambda d: d["spec"]["volumes"][0].update(image="a.io/x:1"),  # not an object
        lambda d: d["spec"]["containers"][0]["volumeMounts"][0].pop("mountPath"),
        lambda d: d["spec"]["containers"][0].pop("name"),
        lambda d: d["spec"]["volumes"][1].pop("name"),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_damaged_pods_are_rejected(mounts, damage, version):
    doc = manifest(mounts, kind="pod", image="registry.example.com/agent:2")
    damage(doc)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, version, strict=True)


# -- details -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "policy"),
    [
        ("registry.example.com/skills/hello:1.0.0", "IfNotPresent"),
        ("registry.example.com/skills/hello:latest", "Always"),
        ("registry.example.com/skills/hello", "Always"),  # no tag means latest
        ("localhost:5000/skills/hello", "Always"),
        (f"registry.example.com/skills/hello@{fake_digest()}", "IfNotPresent"),
    ],
)
def test_pull_policy_follows_the_kubelet_default(reference, policy):
    (mount,) = resolve_mounts([reference], pin=False)
    doc = manifest([mount], kind="patch")
    image = doc["spec"]["template"]["spec"]["volumes"][0]["image"]
    assert image == {"reference": reference, "pullPolicy": policy}


def test_digest_references_are_used_as_given_without_a_registry():
    digest = fake_digest()
    # A backend that does not exist: any registry access would fail.
    (mount,) = resolve_mounts([f"registry.example.com/ns/hello:1.0.0@{digest}"], backend="no-such-backend")
    assert mount.reference.endswith(f"@{digest}")
    assert mount.name == "hello"


def test_references_without_a_registry_are_refused():
    with pytest.raises(UsageError, match="registry"):
        resolve_mounts(["ns/hello:1.0.0"], pin=False)


def test_two_skills_with_the_same_name_are_refused():
    with pytest.raises(ConflictError, match="hello"):
        resolve_mounts(["a.example.com/x/hello:1", "b.example.com/y/hello:2", "a.example.com/x/other:1"], pin=False)


@pytest.mark.parametrize(
    "names",
    [
        ["my.skill", "my-skill", "my_skill"],  # distinct skills, distinct mount paths
        ["a" * 60 + "-one", "a" * 60 + "-two"],  # longer than a volume name may be
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_volume_names_stay_unique_and_valid(names, version):
    mounts = resolve_mounts([f"registry.example.com/ns/{n}:1.0.0" for n in names], pin=False)
    doc = manifest(mounts, kind="pod", image="registry.example.com/agent:2")
    validate(doc, version)
    volume_names = [v["name"] for v in doc["spec"]["volumes"]]
    assert len(set(volume_names)) == len(names), volume_names
    assert all(len(v) <= 63 for v in volume_names)
    check_mounts(
        doc["spec"], "agent", {f"/skills/{n}": (f"registry.example.com/ns/{n}:1.0.0", "IfNotPresent") for n in names}
    )


def test_pod_and_deployment_need_the_agent_image(mounts):
    for kind in ("pod", "deployment"):
        with pytest.raises(UsageError, match="--image"):
            manifest(mounts, kind=kind)  # type: ignore[arg-type]


# -- the command ----------------------------------------------------------------------------------


def kube(*args: str):
    return CliRunner().invoke(cli, ["kube", *args], catch_exceptions=False, prog_name="skillctl")


REFS = ("registry.example.com/skills/hello-world:1.0.0", "localhost:5000/ops/log-triage:0.3.0")


@pytest.mark.parametrize("kind", ["pod", "deployment", "patch"])
@pytest.mark.parametrize("version", VERSIONS)
def test_cli_no_pin_keeps_tags_and_is_valid(kind, version):
    result = kube(*REFS, "--no-pin", "--kind", kind, "--image", "registry.example.com/agent:2", "--name", "bot")
    assert result.exit_code == 0, result.stderr
    doc = yaml.safe_load(result.stdout)
    validate(strategic_merge(minimal_deployment(), doc) if kind == "patch" else doc, version)
    spec = pod_spec(doc) if kind != "patch" else doc["spec"]["template"]["spec"]
    assert [v["image"]["reference"] for v in spec["volumes"]] == list(REFS)
    if kind != "patch":
        assert doc["metadata"]["name"] == "bot"


def test_cli_json_format_is_the_same_document():
    args = (*REFS, "--no-pin", "--image", "registry.example.com/agent:2", "--mount-root", "/srv/skills")
    as_yaml = kube(*args)
    as_json = kube(*args, "--format", "json")
    assert as_yaml.exit_code == as_json.exit_code == 0
    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)
    paths = [m["mountPath"] for m in json.loads(as_json.stdout)["spec"]["containers"][0]["volumeMounts"]]
    assert paths == ["/srv/skills/hello-world", "/srv/skills/log-triage"]


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (
            ("a.example.com/x/hello:1", "b.example.com/y/hello:2", "--no-pin", "--image", "a:1"),
            ExitCode.CONFLICT,
            "hello",
        ),
        (("hello-world:1.0.0", "--no-pin", "--image", "a:1"), ExitCode.USAGE, "registry"),
        ((REFS[0], "--no-pin", "--kind", "pod"), ExitCode.USAGE, "--image"),
        ((REFS[0], "--no-pin"), ExitCode.USAGE, "--image"),  # pod is the default kind
        ((REFS[0], "--no-pin", "--kind", "deployment"), ExitCode.USAGE, "--image"),
        ((REFS[0], "--no-pin", "--kind", "statefulset", "--image", "a:1"), ExitCode.USAGE, "statefulset"),
        ((), ExitCode.USAGE, "REFS"),
        ((REFS[0], "--no-pin", "--kind", "patch", "-n", "ops"), ExitCode.USAGE, "kubectl -n"),
        ((REFS[0], "--no-pin", "--image", "a:1", "-n", "Not_A_Namespace"), ExitCode.USAGE, "namespace"),
        ((REFS[0], "--no-pin", "--image", "a:1", "--pull-secret", "Bad Secret"), ExitCode.USAGE, "pull secret"),
    ],
)
def test_cli_errors(args, code, fragment):
    result = kube(*args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["pod", "deployment", "patch"])
@pytest.mark.parametrize("version", VERSIONS)
def test_cli_namespace_and_pull_secrets(kind, version):
    """An authenticated registry needs imagePullSecrets (the kubelet uses the pod's for image volumes too)."""
    namespace = () if kind == "patch" else ("--namespace", "agents")
    args = (*REFS, "--no-pin", "--kind", kind, "--image", "registry.example.com/agent:2", *namespace)
    result = kube(
        *args, "--pull-secret", "registry-creds", "--pull-secret", "mirror.creds", "--pull-secret", "mirror.creds"
    )
    assert result.exit_code == 0, result.stderr
    doc = yaml.safe_load(result.stdout)
    validate(strategic_merge(minimal_deployment(), doc) if kind == "patch" else doc, version)
    spec = pod_spec(doc) if kind != "patch" else doc["spec"]["template"]["spec"]
    assert spec["imagePullSecrets"] == [{"name": "registry-creds"}, {"name": "mirror.creds"}]
    if kind != "patch":
        assert doc["metadata"]["namespace"] == "agents"
    plain = yaml.safe_load(kube(*REFS, "--no-pin", "--kind", kind, "--image", "registry.example.com/agent:2").stdout)
    assert "imagePullSecrets" not in (pod_spec(plain) if kind != "patch" else plain["spec"]["template"]["spec"])
