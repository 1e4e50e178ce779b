"""skillctl inspect."""

from __future__ import annotations

import pytest
from cli_helpers import assert_error, ok_json


def test_text(run, packed):
    result = run("inspect", "examples/hello-world:1.0.0-draft")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for expected in [
        "Skill:        examples/hello-world\n",
        "Display Name: Hello World\n",
        "Version:      1.0.0\n",
        "Status:       draft\n",
        f"  Digest:     {packed['digest']}\n",
        "  Media Type: application/vnd.oci.image.manifest.v1+json\n",
        "  Platform:   linux/amd64\n",
        f"    {packed['layer']['digest']} (application/vnd.oci.image.layer.v1.tar+gzip, "
        f"{packed['layer']['size']} bytes)\n",
        "  io.skillimage.status=draft\n",
        "  org.opencontainers.image.vendor=examples\n",
        '  io.skillimage.tags=["example","getting-started"]\n',
    ]:
        assert expected in out, expected


def test_json_keys(run, packed):
    data = ok_json(run("inspect", "examples/hello-world:1.0.0-draft", "--format", "json"))
    assert set(data) == {
        "ref",
        "digest",
        "mediaType",
        "source",
        "skill",
        "config",
        "layers",
        "size",
        "annotations",
        "packedAt",
    }
    assert data["digest"] == packed["digest"]
    assert set(data["skill"]) == {"name", "title", "version", "status", "description", "vendor"}
    assert set(data["config"]) == {"mediaType", "digest", "size", "architecture", "os"}
    assert data["layers"] == [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": packed["layer"]["digest"],
            "size": packed["layer"]["size"],
        }
    ]
    assert data["annotations"]["io.skillimage.status"] == "draft"


def test_by_digest_and_quiet(run, packed):
    result = run("inspect", "-q", packed["digest"])
    assert result.exit_code == 0
    assert result.stdout == packed["digest"] + "\n"


def test_not_found(run, packed):
    assert_error(
        run("inspect", "examples/hello-world:9.9.9"), 4, "not found", "hint: examples/hello-world has tags: 1.0.0-draft"
    )
    assert_error(run("inspect", "sha256:" + "0" * 64), 4, "no image with this digest")


@pytest.mark.parametrize("ref", ["Bad Ref", "ns/x:bad tag", "ns/x@sha256:123"])
def test_bad_reference_is_a_usage_error(run, ref):
    assert_error(run("inspect", ref), 2, "invalid reference")


@pytest.mark.parametrize("blob", ["manifest", "config"])
def test_corrupt_blob_is_an_integrity_error(run, packed, store_path, blob):
    digest = (
        packed["digest"]
        if blob == "manifest"
        else ok_json(run("inspect", packed["digest"], "--format", "json"))["config"]["digest"]
    )
    path = store_path / "blobs/sha256" / digest[7:]
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))
    assert_error(run("inspect", "examples/hello-world:1.0.0-draft"), 10, "does not match its digest", digest)
    # list still reads the store
    assert run("list", "-q").stdout == "examples/hello-world:1.0.0-draft\n"
