"""Kubernetes manifests that mount skills as image volumes (KEP-4639 ``spec.volumes[].image``).

References are pinned to digests by default, resolved from the registry, so a
later promotion (which moves tags) never changes what a running pod mounts.
ImageVolumes are beta and on by default in Kubernetes 1.35 and GA in 1.36.
A runtime without support may fail the container (containerd 2.0) or mount an
empty directory without any error (reported with k3s 1.36.1's containerd).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.core import oci
from skillctl.core.errors import ConflictError, UsageError
from skillctl.core.refs import Reference, parse_reference
from skillctl.registry.client import read_manifest
from skillctl.registry.selection import capable, select

Kind = Literal["pod", "deployment", "patch"]
KINDS: Final = ("pod", "deployment", "patch")
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class SkillMount:
    name: str
    reference: str
    source: str

    @property
    def volume(self) -> str:
        label = f"skill-{self.name}"
        if _DNS_LABEL.match(label):
            return label
        # Shortened or rewritten (dots, underscores): a hash of the name keeps distinct skills' volumes distinct.
        return dns_label(f"{label[:54]}-{hashlib.sha256(self.name.encode()).hexdigest()[:8]}")


def dns_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    if not _DNS_LABEL.match(label):
        raise UsageError(f"{text!r} does not make a valid Kubernetes name")
    return label


def resolve_mounts(
    refs: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    pin: bool = True,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> list[SkillMount]:
    """Parse (and by default pin to digests) the skill references, one mount per skill name.

    ``names`` (a collection's) replaces the references' last path segments as the skills' names.

    Raises:
        UsageError: a reference without a registry host (nodes pull from registries).
        ConflictError: two references would mount at the same path.
    """
    opts = opts or RegistryOptions()
    parsed: list[Reference] = []
    for text in refs:
        ref = parse_reference(text)
        if not ref.is_remote:
            raise UsageError(f"{text}: a node pulls from a registry; give the full reference (registry/ns/name:tag)")
        parsed.append(ref)
    # Checked before the registry is asked anything.
    names = list(names) if names is not None else [ref.name for ref in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConflictError(f"several skills would mount at the same path: {', '.join(duplicates)}")
    reader = None
    mounts: list[SkillMount] = []
    for ref, name in zip(parsed, names, strict=True):
        reference = str(ref) if ref.digest or not pin else ""
        if not reference:
            reader = reader or capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
            manifest = oci.Manifest.parse(read_manifest(ref.with_tag(ref.tag_or_default), reader.backend, opts))
            reference = f"{ref.repository}@{manifest.digest}"
        mounts.append(SkillMount(name, reference, str(ref)))
    return mounts


def _pull_policy(reference: str) -> str:
    """The kubelet's default: Always for ``:latest`` or no tag at all, IfNotPresent otherwise (and for digests)."""
    ref = parse_reference(reference)
    return "Always" if not ref.digest and ref.tag_or_default == "latest" else "IfNotPresent"


def pod_parts(mounts: Sequence[SkillMount], *, mount_root: str, container: str) -> tuple[list[Any], dict[str, Any]]:
    volumes = [
        {"name": m.volume, "image": {"reference": m.reference, "pullPolicy": _pull_policy(m.reference)}} for m in mounts
    ]
    root = "/" + mount_root.strip("/")
    mounts_spec = [{"name": m.volume, "mountPath": f"{root}/{m.name}", "readOnly": True} for m in mounts]
    return volumes, {"name": container, "volumeMounts": mounts_spec}


def manifest(
    mounts: Sequence[SkillMount],
    *,
    kind: Kind = "pod",
    name: str = "agent",
    image: str | None = None,
    mount_root: str = "/skills",
    container: str = "agent",
    namespace: str | None = None,
    pull_secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """A Pod, a Deployment, or a strategic-merge patch for an existing workload's pod template.

    ``pull_secrets`` become the pod's ``imagePullSecrets``, which the kubelet also uses for image volumes:
    what an authenticated registry needs. ``namespace`` goes into the Pod's or Deployment's metadata.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}", hint=f"choose one of: {', '.join(KINDS)}")
    volumes, container_spec = pod_parts(mounts, mount_root=mount_root, container=dns_label(container))
    secrets = [{"name": _subdomain(secret, what="pull secret")} for secret in dict.fromkeys(pull_secrets)]
    if kind == "patch":
        if namespace:
            raise UsageError("a patch has no namespace of its own", hint="kubectl -n NAMESPACE patch … applies it")
        template_spec: dict[str, Any] = {"containers": [container_spec], "volumes": volumes}
        if secrets:
            template_spec["imagePullSecrets"] = secrets
        return {"spec": {"template": {"spec": template_spec}}}
    if not image:
        raise UsageError(f"--image is needed for a {kind}: the agent container that reads the skills")
    agent = {"name": container_spec["name"], "image": image, "volumeMounts": container_spec["volumeMounts"]}
    pod_spec: dict[str, Any] = {"containers": [agent], "volumes": volumes}
    if secrets:
        pod_spec["imagePullSecrets"] = secrets
    label = dns_label(name)
    metadata: dict[str, Any] = {"name": label}
    if namespace:
        if not _DNS_LABEL.match(namespace):
            raise UsageError(f"{namespace!r} is not a Kubernetes namespace name (a DNS label)")
        metadata["namespace"] = namespace
    metadata["labels"] = {"app": label}
    if kind == "pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": label}},
            "template": {"metadata": {"labels": {"app": label}}, "spec": pod_spec},
        },
    }


_SUBDOMAIN: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _subdomain(text: str, *, what: str) -> str:
    if len(text) > 253 or not _SUBDOMAIN.match(text):
        raise UsageError(f"{text!r} is not a valid {what} name (a DNS subdomain: lowercase letters, digits, '-', '.')")
    return text


def to_yaml(document: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
