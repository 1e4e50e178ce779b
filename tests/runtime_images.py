"""What the runtime tests put in the registry: the skill (with skillctl) and the images around it (made here).

- ``publish``: packs and pushes the runtime skill with the skillctl CLI and keeps what ``skillctl kube --format json``
  prints for it, with the other two images below; the fixtures of both runtime levels start from it.
- ``push_busybox``: a FROM-scratch image of the host's static busybox with its applets as links in ``/bin`` and
  ``sleep inf`` as its command. It serves as the pod sandbox ("pause") image and as the agent container.
- ``push_oras_artifact``: what ``oras push REF DIR/`` writes for a skill directory: the directory as one tar+gzip
  layer titled with its name, the empty config ``application/vnd.oci.empty.v1+json`` (``{}``, so no
  ``rootfs.diff_ids``) and an ``artifactType``. Runtimes must refuse to mount it as an image volume.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from conftest import isolation, require_tool
from oci_helpers import TarEntry, directory, file, sha256, symlink, tar_bytes
from registry import Registry
from volume_checks import runtime_skill

from skillctl.cli.app import cli

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ORAS_ARTIFACT_TYPE = "application/vnd.example.skill.v1"
APPLETS = (
    "sh", "awk", "basename", "cat", "cut", "dirname", "echo", "find", "grep", "ls", "printf", "readlink", "sha256sum",
    "sleep", "sort", "stat", "test", "touch", "wc",
)  # fmt: skip


def _push(registry: Registry, repo: str, tag: str, config_type: str, config: bytes, layer_tar: bytes, **extra) -> str:
    """Push one config, one gzip layer and the manifest; ``extra`` adds layer annotations or ``artifactType``."""
    layer_gz = gzip.compress(layer_tar, mtime=0)
    layer = {"mediaType": LAYER, "digest": registry.put_blob(repo, layer_gz), "size": len(layer_gz)}
    if "layer_annotations" in extra:
        layer["annotations"] = extra.pop("layer_annotations")
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": config_type, "digest": registry.put_blob(repo, config), "size": len(config)},
        "layers": [layer],
        **extra,
    }
    return registry.put_manifest(repo, tag, json.dumps(manifest, separators=(",", ":")).encode())


def push_busybox(registry: Registry, ref: str, busybox: Path) -> str:
    """Push the busybox image to ``ref`` (``HOST/path:tag``); returns the manifest digest."""
    repo, _, tag = ref.rpartition(":")
    entries: list[TarEntry] = [directory(d) for d in ("bin", "dev", "etc", "proc", "skills", "sys", "tmp")]
    entries.append(file("bin/busybox", busybox.read_bytes(), 0o755))
    entries += [symlink(f"bin/{applet}", "busybox") for applet in APPLETS]
    raw = tar_bytes(entries)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sleep", "inf"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(raw)]},
    }
    return _push(registry, repo, tag, CONFIG, json.dumps(config).encode(), raw)


def push_oras_artifact(registry: Registry, ref: str, skill_dir: Path) -> str:
    """Push ``skill_dir`` to ``ref`` (``HOST/path:tag``) the way ``oras push`` stores a directory; returns the
    manifest digest."""
    repo, _, tag = ref.rpartition(":")
    base = skill_dir.name
    entries = [directory(base)]
    for root, dirs, files in os.walk(skill_dir):
        dirs.sort()
        rel = Path(root).relative_to(skill_dir)
        if rel != Path("."):
            entries.append(directory(f"{base}/{rel.as_posix()}"))
        for name in sorted(files):
            path = Path(root, name)
            arc = f"{base}/{(rel / name).as_posix()}"
            if path.is_symlink():
                entries.append(symlink(arc, os.readlink(path)))
            else:
                entries.append(TarEntry(arc, tarfile.REGTYPE, path.read_bytes(), path.stat().st_mode & 0o777))
    return _push(
        registry,
        repo,
        tag,
        EMPTY_CONFIG,
        b"{}",
        tar_bytes(entries),
        layer_annotations={"org.opencontainers.image.title": base, "io.deis.oras.content.unpack": "true"},
        artifactType=ORAS_ARTIFACT_TYPE,
    )


@dataclass
class Published:
    """The registry's side of a runtime test."""

    skill: Path  # the skill directory that was packed
    tag_ref: str  # where skillctl pushed it
    digest: str  # the registry's manifest digest, read directly
    busybox: str  # sandbox and agent image
    oras: str  # the same directory as an ORAS-style artifact
    kube: dict[str, Any] = field(default_factory=dict)  # kind -> `skillctl kube --format json` output

    @property
    def pinned(self) -> str:
        return f"{self.tag_ref.rsplit(':', 1)[0]}@{self.digest}"


def skillctl(env: dict[str, str | None], store: Path, *args: object) -> str:
    """The CLI in-process with its own HOME and XDG dirs (``env``, from ``conftest.isolation``), checked."""
    argv = ["--store", str(store), *(str(a) for a in args)]
    result = CliRunner().invoke(cli, argv, env=env, catch_exceptions=False, prog_name="skillctl")
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def publish(work: Path, registry: Registry, kinds: dict[str, str]) -> Published:
    """Push the runtime skill (``skillctl pack`` + ``push``), busybox and the ORAS artifact; ``kinds`` maps each
    ``skillctl kube --kind`` wanted to the ``--name`` it gets."""
    env = isolation(work / "home")
    store = work / "store"
    skill = runtime_skill(work / "src")
    busybox = f"{registry.repo('busybox')}:1"
    push_busybox(registry, busybox, Path(require_tool("busybox")).resolve())
    oras = f"{registry.repo('log-triage-oras')}:0.3.0"
    push_oras_artifact(registry, oras, skill)
    tag_ref = f"{registry.repo('log-triage')}:0.3.0"
    skillctl(env, store, "pack", skill)
    skillctl(env, store, "push", "examples/ops/log-triage:0.3.0-draft", tag_ref, "--tls-verify=false")
    digest = registry.digest(tag_ref)
    assert digest is not None
    published = Published(skill, tag_ref, digest, busybox, oras)
    for kind, name in kinds.items():
        out = skillctl(env, store, "kube", tag_ref, "--image", busybox, "--kind", kind, "--name", name,
                       "--format", "json", "--tls-verify=false")  # fmt: skip
        published.kube[kind] = json.loads(out)
    return published
