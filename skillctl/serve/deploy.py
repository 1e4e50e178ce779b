"""Kubernetes manifests for the catalog (``skillctl serve --print-kube``): a Deployment and a Service.

Replicas share nothing: each builds its own index from the registries (in
memory, on an ``emptyDir`` cache), so N replicas behind the Service scale
reads and survive each other. Registry credentials come from a
``kubernetes.io/dockerconfigjson`` Secret mounted read-only; TLS and htpasswd
files from Secrets too. The pod runs as non-root with a read-only root file
system and no capabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from skillctl.core.errors import UsageError

PORT: Final = 8080
SECRETS: Final = "/var/run/secrets/skillctl"
POD_TMP: Final = "/tmp"  # noqa: S108 - a path inside the pod, on its own emptyDir


@dataclass(frozen=True)
class DeploySpec:
    name: str
    image: str
    registries: Sequence[str]
    repositories: Sequence[str] = ()
    replicas: int = 2
    sync_interval: str = "60s"
    registry_secret: str | None = None
    tls_secret: str | None = None
    htpasswd_secret: str | None = None
    verify_key_secret: str | None = None
    extra_args: Sequence[str] = ()


def _dns(label: str, what: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", label):
        raise UsageError(f"{what} {label!r}: not a valid Kubernetes name (lowercase letters, digits, '-')")
    return label


def manifests(spec: DeploySpec) -> list[dict[str, Any]]:
    """[Deployment, Service] for the spec."""
    name = _dns(spec.name, "--name")
    if not spec.image:
        raise UsageError("--image is needed: an image with skillctl[serve] installed (its entry point is not used)")
    if not spec.registries:
        raise UsageError("--registry is needed: a pod reads registries (the local store is not there)")
    if spec.replicas < 1:
        raise UsageError("--replicas must be at least 1")
    labels = {"app.kubernetes.io/name": "skillctl-catalog", "app.kubernetes.io/instance": name}
    args = ["serve", "--address", "0.0.0.0", "--port", str(PORT), "--cache-dir", "/cache"]  # noqa: S104 - in a pod
    for registry in spec.registries:
        args += ["--registry", registry]
    for repo in spec.repositories:
        args += ["--repositories", repo]
    args += ["--sync-interval", spec.sync_interval]
    mounts: list[dict[str, Any]] = [{"name": "cache", "mountPath": "/cache"}, {"name": "tmp", "mountPath": POD_TMP}]
    volumes: list[dict[str, Any]] = [
        {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tmp", "emptyDir": {}},
    ]

    def secret(volume: str, secret_name: str | None, items: list[tuple[str, str]]) -> str | None:
        if not secret_name:
            return None
        path = f"{SECRETS}/{volume}"
        mounts.append({"name": volume, "mountPath": path, "readOnly": True})
        volumes.append(
            {
                "name": volume,
                "secret": {
                    "secretName": _dns(secret_name, f"the {volume} secret"),
                    "items": [{"key": k, "path": p} for k, p in items],
                    "defaultMode": 0o440,
                },
            }
        )
        return path

    if path := secret("registry", spec.registry_secret, [(".dockerconfigjson", "config.json")]):
        args += ["--authfile", f"{path}/config.json"]
    if path := secret("tls", spec.tls_secret, [("tls.crt", "tls.crt"), ("tls.key", "tls.key")]):
        args += ["--tls-cert", f"{path}/tls.crt", "--tls-key", f"{path}/tls.key"]
    if path := secret("auth", spec.htpasswd_secret, [("htpasswd", "htpasswd")]):
        args += ["--htpasswd", f"{path}/htpasswd"]
    if path := secret("keys", spec.verify_key_secret, [("cosign.pub", "cosign.pub")]):
        args += ["--verify-key", f"{path}/cosign.pub"]
    args += list(spec.extra_args)
    scheme = "HTTPS" if spec.tls_secret else "HTTP"
    container = {
        "name": "catalog",
        "image": spec.image,
        "command": ["skillctl"],
        "args": args,
        "env": [{"name": "HOME", "value": POD_TMP}, {"name": "XDG_CACHE_HOME", "value": "/cache"}],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http", "scheme": scheme},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http", "scheme": scheme},
            "periodSeconds": 10,
            "failureThreshold": 6,
        },
        "startupProbe": {
            "httpGet": {"path": "/healthz", "port": "http", "scheme": scheme},
            "periodSeconds": 2,
            "failureThreshold": 30,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "fsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": labels,
            "ports": [
                {"name": "http", "port": 443 if spec.tls_secret else 80, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }
    return [deployment, service]


def to_yaml(documents: Sequence[dict[str, Any]]) -> str:
    import yaml

    return "".join("---\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False) for doc in documents)
