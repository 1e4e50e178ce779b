"""SLSA provenance v1 for a pushed skill image: which source (repository, revision) and which builder made it.

``push --provenance --sign-key KEY`` attests it on the pushed digest (predicate type
``https://slsa.dev/provenance/v1``, what ``cosign verify-attestation --type slsaprovenance1`` checks). The source
comes from the options, else the image's ``org.opencontainers.image.source``/``revision`` annotations (from
``skill.yaml``'s provenance), else the CI run's variables (GitHub Actions, GitLab CI); the builder likewise.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from skillctl.backends.base import Capability, RegistryOptions
from skillctl.core import oci
from skillctl.core.refs import Reference, parse_reference
from skillctl.registry.client import read_manifest
from skillctl.registry.selection import capable, select
from skillctl.trust.attest import AttestResult, attest

PREDICATE_TYPE: Final = "https://slsa.dev/provenance/v1"
BUILD_TYPE: Final = "https://skillimage.io/buildtypes/skillctl-pack/v1"


def _ci(env: Mapping[str, str]) -> tuple[str | None, str | None, str | None, str | None]:
    """(source repository, revision, builder id, invocation id) from a CI run's variables."""
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo = env.get("GITHUB_REPOSITORY")
        workflow = env.get("GITHUB_WORKFLOW_REF")
        run = env.get("GITHUB_RUN_ID")
        return (
            f"{server}/{repo}" if repo else None,
            env.get("GITHUB_SHA"),
            f"{server}/{workflow}" if workflow else None,
            f"{server}/{repo}/actions/runs/{run}/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}" if repo and run
            else None,
        )  # fmt: skip
    if env.get("GITLAB_CI") == "true":
        return env.get("CI_PROJECT_URL"), env.get("CI_COMMIT_SHA"), env.get("CI_JOB_URL"), env.get("CI_JOB_URL")
    return None, None, None, None


def predicate(
    manifest: oci.Manifest,
    *,
    source: str | None = None,
    revision: str | None = None,
    builder_id: str | None = None,
    started: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The SLSA v1 provenance predicate for ``manifest``."""
    from skillctl._version import __version__

    env = os.environ if env is None else env
    ci_source, ci_revision, ci_builder, invocation = _ci(env)
    notes = manifest.annotations
    source = source or notes.get(oci.SOURCE) or ci_source
    revision = revision or notes.get(oci.REVISION) or ci_revision
    builder_id = builder_id or ci_builder or f"urn:skillctl:host:{socket.gethostname()}"
    external: dict[str, Any] = {
        "skill": {
            "name": notes.get(oci.TITLE, ""),
            "version": notes.get(oci.VERSION, ""),
            "vendor": notes.get(oci.VENDOR, ""),
        },
    }
    if source or revision:
        external["source"] = {k: v for k, v in (("repository", source), ("revision", revision)) if v}
    dependencies = []
    if source:
        entry: dict[str, Any] = {"uri": f"git+{source}" + (f"@{revision}" if revision else "")}
        if revision and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", revision):
            entry["digest"] = {"gitCommit": revision}
        dependencies.append(entry)
    layers = [{"uri": f"oci-layer:{d.digest}", "digest": {"sha256": d.digest[7:]}} for d in manifest.layers]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata: dict[str, Any] = {"startedOn": started or now, "finishedOn": now}
    if invocation:
        metadata["invocationId"] = invocation
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": {"skillctl": __version__, "sourceDateEpoch": env.get("SOURCE_DATE_EPOCH")},
            "resolvedDependencies": dependencies + layers,
        },
        "runDetails": {"builder": {"id": builder_id, "version": {"skillctl": __version__}}, "metadata": metadata},
    }


def attest_provenance(
    ref: str,
    key: Any,
    *,
    source: str | None = None,
    revision: str | None = None,
    builder_id: str | None = None,
    started: str | None = None,
    backend: str | None = None,
    opts: RegistryOptions | None = None,
) -> AttestResult:
    """Attest SLSA provenance on the manifest ``ref`` points at, signed with ``key``."""
    opts = opts or RegistryOptions()
    parsed = parse_reference(ref)
    reader = capable(select(backend, env=opts.env), Capability.MANIFEST, operation="read manifests")
    manifest = oci.Manifest.parse(read_manifest(parsed, reader.backend, opts), digest=parsed.digest, source=ref)
    body = predicate(manifest, source=source, revision=revision, builder_id=builder_id, started=started)
    pinned = str(Reference(parsed.repository, None, manifest.digest))
    return attest(pinned, key, PREDICATE_TYPE, body, backend=backend, opts=opts)
