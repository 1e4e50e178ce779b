"""Pulls with the containers configuration that sigstore policy users have.

podman applies ``sigstoreSigned`` policies only when ``registries.d`` sets ``use-sigstore-attachments: true`` for
the registry. With that setting skopeo copies an image's ``.sig`` along with it, and an OCI layout (where skillctl's
pull lands) cannot hold one. The configuration goes in the test's own HOME (``~/.config/containers/registries.d``
replaces ``/etc/containers/registries.d`` for skopeo), never in the machine's ``/etc/containers``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from private_sigstore import use_sigstore_attachments
from registry import Registry, need_tool, unique_skill

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.registry import transfer
from skillctl.trust.signing import generate_key_pair, sign

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)


def test_pull_through_skopeo_with_use_sigstore_attachments(
    registry: Registry, isolated_env: Path, tmp_path: Path
) -> None:
    store = skillctl.Store(tmp_path / "producer")
    image = skillctl.pack(unique_skill(tmp_path / "src", "demo"), store=store)
    ref = f"{registry.repo('demo')}:1.0.0"
    transfer.push(image.ref, ref, store=store, backend="skopeo", opts=OPTS)
    private, _ = generate_key_pair(tmp_path / "key", b"pw")
    sign(ref, private, b"pw", opts=OPTS)
    use_sigstore_attachments(isolated_env, registry.host)

    # The setting is in force: skopeo itself now carries the signature and cannot put it into a layout.
    plain = subprocess.run(
        [need_tool("skopeo"), "--policy", str(write_accept_all(tmp_path)), "copy", "--src-tls-verify=false",
         f"docker://{ref}", f"oci:{tmp_path / 'raw'}:x"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(isolated_env)}, check=False,
    )  # fmt: skip
    assert plain.returncode != 0 and "Pushing signatures for OCI images is not supported" in plain.stderr, plain

    consumer = tmp_path / "consumer"
    result = CliRunner().invoke(
        cli,
        ["--store", str(consumer), "pull", ref, "--backend", "skopeo", "--tls-verify=false", "-o", tmp_path / "out"],
    )
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "demo" / "SKILL.md").is_file()
    assert skillctl.Store(consumer).resolve(ref).digest == registry.digest(ref)


def write_accept_all(tmp_path: Path) -> Path:
    policy = tmp_path / "policy.json"
    policy.write_text('{"default":[{"type":"insecureAcceptAnything"}]}')
    return policy
