"""The local store is a plain OCI layout: skopeo and umoci read it, and a store written the way the
Go skillctl (oras-go) or skopeo write it is read by skillctl."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES, require_tool
from helpers import make_skill

import skillctl
from skillctl.cli.app import cli

REF = "examples/hello-world:1.0.0-draft"


def sh(*argv: object) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([str(a) for a in argv], capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, (argv, result.stderr.decode(errors="replace"))
    return result


def cli_run(store: Path, *args: object):
    result = CliRunner().invoke(cli, ["--store", str(store), *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


@pytest.fixture
def packed(hello, store):
    return skillctl.pack(hello, store=store)


def test_skopeo_raw_manifest_hashes_to_the_pack_digest(packed, store):
    skopeo = require_tool("skopeo")
    raw = sh(skopeo, "inspect", "--raw", f"oci:{store.root}:{REF}").stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == packed.digest
    assert raw == packed.manifest.raw


def test_skopeo_reads_config_and_layers(packed, store):
    skopeo = require_tool("skopeo")
    info = json.loads(sh(skopeo, "inspect", f"oci:{store.root}:{REF}").stdout)
    assert info["Digest"] == packed.digest
    assert (info["Architecture"], info["Os"]) == ("amd64", "linux")
    assert info["Layers"] == [packed.layer.digest]
    config = sh(skopeo, "inspect", "--config", "--raw", f"oci:{store.root}:{REF}").stdout
    assert config == store.read_blob(packed.manifest.config.digest)


def test_umoci_unpacks_with_exec_bits(tmp_path, store):
    umoci = require_tool("umoci")
    root = make_skill(tmp_path / "tool", name="tool", files={"scripts/run.sh": "#!/bin/sh\necho ok\n"})
    os.chmod(root / "scripts/run.sh", 0o700)
    os.chmod(root / "SKILL.md", 0o600)
    result = skillctl.pack(root, store=store)
    bundle = tmp_path / "bundle"
    index_before = (store.root / "index.json").read_bytes()
    sh(umoci, "unpack", "--rootless", "--image", f"{store.root}:{result.ref}", bundle)
    rootfs = bundle / "rootfs"
    assert sorted(p.relative_to(rootfs).as_posix() for p in rootfs.rglob("*")) == [
        "SKILL.md",
        "scripts",
        "scripts/run.sh",
        "skill.yaml",
    ]
    assert (rootfs / "scripts/run.sh").stat().st_mode & 0o777 == 0o755
    assert (rootfs / "SKILL.md").stat().st_mode & 0o777 == 0o644
    assert (rootfs / "scripts/run.sh").read_bytes() == (root / "scripts/run.sh").read_bytes()
    assert (store.root / "index.json").read_bytes() == index_before


def test_umoci_unpacks_the_richer_example(tmp_path, store):
    umoci = require_tool("umoci")
    example = EXAMPLES / "log-triage"
    result = skillctl.pack(example, store=store)
    sh(umoci, "unpack", "--rootless", "--image", f"{store.root}:{result.ref}", tmp_path / "bundle")
    script = tmp_path / "bundle/rootfs/scripts/triage.sh"
    assert script.stat().st_mode & 0o111
    assert script.read_bytes() == (example / "scripts/triage.sh").read_bytes()


def test_store_written_by_skopeo_is_read_and_extended(packed, store, tmp_path, log_triage_copy):
    skopeo = require_tool("skopeo")
    other = tmp_path / "other"
    sh(skopeo, "--insecure-policy", "copy", f"oci:{store.root}:{REF}", f"oci:{other}:{REF}")
    assert [r.ref for r in skillctl.list_images(skillctl.Store(other))] == [REF]
    assert skillctl.inspect_image(REF, store=skillctl.Store(other)).digest == packed.digest
    # skillctl adds to the skopeo-made layout; skopeo still reads both references
    added = skillctl.pack(log_triage_copy, store=skillctl.Store(other))
    for ref, digest in [(REF, packed.digest), (added.ref, added.digest)]:
        raw = sh(skopeo, "inspect", "--raw", f"oci:{other}:{ref}").stdout
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest


@pytest.fixture
def log_triage_copy(tmp_path):
    dest = tmp_path / "log-triage"
    shutil.copytree(EXAMPLES / "log-triage", dest, symlinks=True)
    return dest


# -- a store as the Go skillctl writes it -----------------------------------------------------------


def go_style_layer(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A layer as Go's createLayer makes it: real owners, mtimes, no directory normalisation."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            info.uid, info.gid, info.uname, info.gname = 1000, 1000, "dev", "dev"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_blob(root: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs/sha256" / digest).write_bytes(data)
    return "sha256:" + digest


def go_image(root: Path, *, version: str, status: str, files: dict[str, tuple[bytes, int]]) -> tuple[str, int]:
    raw_tar = go_style_layer(files)
    layer = gzip.compress(raw_tar)
    layer_digest = write_blob(root, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw_tar).hexdigest()]},
        },
        separators=(",", ":"),
    ).encode()
    config_digest = write_blob(root, config)
    annotations = {
        "io.skillimage.status": status,
        "io.skillimage.wordcount": "12",
        "org.opencontainers.image.created": "2026-04-29T22:07:29Z",
        "org.opencontainers.image.description": "A skill built by the Go tool",
        "org.opencontainers.image.title": "Go Skill",
        "org.opencontainers.image.vendor": "acme",
        "org.opencontainers.image.version": version,
    }
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}
            ],
            "annotations": annotations,
        },
        separators=(",", ":"),
    ).encode()
    return write_blob(root, manifest), len(manifest)


@pytest.fixture
def go_store(tmp_path):
    """An OCI layout with oras-go's entries: tags with only mediaType/digest/size + ref.name, one untagged."""
    root = tmp_path / "go-store"
    root.mkdir()
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    files = {
        "SKILL.md": (b"---\nname: go-skill\ndescription: d\n---\nbody\n", 0o644),
        "skill.yaml": (b"apiVersion: skillimage.io/v1alpha1\n", 0o664),
        "scripts/run.sh": (b"#!/bin/sh\n", 0o775),
    }
    draft = go_image(root, version="1.0.0", status="draft", files=files)
    published = go_image(root, version="1.0.0", status="published", files={**files, "extra.md": (b"x", 0o644)})
    archived = go_image(root, version="0.9.0", status="archived", files={**files, "old.md": (b"o", 0o644)})
    mt = "application/vnd.oci.image.manifest.v1+json"
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": mt,
                "digest": published[0],
                "size": published[1],
                "annotations": {"org.opencontainers.image.ref.name": "quay.io/acme/go-skill:1.0.0"},
            },
            {"mediaType": mt, "digest": archived[0], "size": archived[1]},
            {
                "mediaType": mt,
                "digest": draft[0],
                "size": draft[1],
                "annotations": {"org.opencontainers.image.ref.name": "acme/go-skill:1.0.0-draft"},
            },
            {
                "mediaType": mt,
                "digest": published[0],
                "size": published[1],
                "annotations": {"org.opencontainers.image.ref.name": "quay.io/acme/go-skill:latest"},
            },
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return root, {"draft": draft[0], "published": published[0], "archived": archived[0]}


def test_go_written_store_is_listed(go_store):
    root, digests = go_store
    rows = json.loads(cli_run(root, "list", "--format", "json").stdout)
    assert [(r["ref"], r["status"], r["version"], r["digest"]) for r in rows] == [
        ("acme/go-skill:1.0.0-draft", "draft", "1.0.0", digests["draft"]),
        ("quay.io/acme/go-skill:1.0.0", "published", "1.0.0", digests["published"]),
        ("quay.io/acme/go-skill:latest", "published", "1.0.0", digests["published"]),
    ]
    assert rows[0]["created"] == "2026-04-29T22:07:29Z"
    assert rows[1]["name"] == "quay.io/acme/go-skill" and rows[1]["tag"] == "1.0.0"
    everything = cli_run(root, "list", "--all", "-q").stdout.splitlines()
    assert everything[-1] == digests["archived"]
    table = cli_run(root, "list").stdout
    assert "quay.io/acme/go-skill" in table and "published" in table


def test_go_written_store_is_inspected(go_store, tmp_path):
    root, digests = go_store
    data = json.loads(cli_run(root, "inspect", "quay.io/acme/go-skill:1.0.0", "--format", "json").stdout)
    assert data["digest"] == digests["published"]
    assert data["skill"]["title"] == "Go Skill" and data["skill"]["vendor"] == "acme"
    assert data["annotations"]["org.opencontainers.image.created"] == "2026-04-29T22:07:29Z"
    assert data["packedAt"] == ""
    text = cli_run(root, "inspect", digests["archived"]).stdout
    assert "Status:       archived" in text
    unpacked = skillctl.unpack_image("acme/go-skill:1.0.0-draft", tmp_path / "out", store=skillctl.Store(root))
    assert (unpacked.path / "scripts/run.sh").stat().st_mode & 0o777 == 0o755
    assert (unpacked.path / "skill.yaml").stat().st_mode & 0o777 == 0o644


def test_go_written_store_is_pruned_like_upstream(go_store):
    root, digests = go_store
    data = json.loads(cli_run(root, "prune", "--format", "json").stdout)
    # acme/go-skill and quay.io/acme/go-skill are different names: nothing is superseded across them;
    # the untagged manifest is archived, so it is kept, and every blob is still referenced.
    assert data == {"untagged": [], "droppedUntaggedManifests": 0, "blobsRemoved": 0, "bytesFreed": 0, "dryRun": False}
    cli_run(root, "tag", "quay.io/acme/go-skill:1.0.0", "acme/go-skill:1.0.0")
    data = json.loads(cli_run(root, "prune", "--format", "json").stdout)
    assert data["untagged"] == [{"ref": "acme/go-skill:1.0.0-draft", "status": "draft"}]
    assert data["blobsRemoved"] == 3
    assert not (root / "blobs/sha256" / digests["draft"][7:]).exists()
    assert cli_run(root, "list", "--all", "-q").stdout.splitlines()[-1] == digests["archived"]


def test_skillctl_tags_stay_readable_by_skopeo_after_tag_and_rm(packed, store):
    skopeo = require_tool("skopeo")
    skillctl.tag_image(REF, "quay.io/org/hello:1.0.0-draft", store=store)
    skillctl.remove_images([REF], store=store)
    raw = sh(skopeo, "inspect", "--raw", f"oci:{store.root}:quay.io/org/hello:1.0.0-draft").stdout
    assert raw == packed.manifest.raw
    gone = subprocess.run(
        [require_tool("skopeo"), "inspect", "--raw", f"oci:{store.root}:{REF}"], capture_output=True, check=False
    )
    assert gone.returncode != 0
