"""What container runtimes need from a skill image to mount it as an image volume, checked without a runtime.

- containerd unpacks an image volume into a snapshot and refuses it ("mismatched image rootfs and manifest layers")
  unless the config's ``rootfs.diff_ids`` are the digests of the uncompressed layers, in order;
- CRI-O treats any OCI manifest that has an ``artifactType`` as an artifact (and mounts its layer blobs as files),
  even with a normal image config, so a skill manifest must carry none, at any lifecycle state.

The real runtime is exercised in tests/integration/test_cri_image_volume.py; these catch a regression in seconds.
"""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest
from conftest import EXAMPLES

import skillctl
from skillctl.core.states import STATES
from skillctl.lifecycle.promote import with_status


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["hello-world", "log-triage"])
def packed(request, store):
    return skillctl.pack(EXAMPLES / request.param, store=store)


def test_skill_manifests_carry_no_artifact_type(packed, store):
    for state in STATES:  # every status a promotion writes keeps it an image
        manifest = json.loads(with_status(packed.manifest, state).raw)
        assert "artifactType" not in manifest
        assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
        assert manifest["annotations"]["io.skillimage.status"] == state


def test_config_diff_ids_are_the_digests_of_the_uncompressed_layers(packed, store):
    manifest = json.loads(packed.manifest.raw)
    config = json.loads(store.read_blob(manifest["config"]["digest"]))
    layers = [store.read_blob(layer["digest"]) for layer in manifest["layers"]]
    assert [layer["mediaType"] for layer in manifest["layers"]] == ["application/vnd.oci.image.layer.v1.tar+gzip"]
    assert [layer["digest"] for layer in manifest["layers"]] == [sha256(blob) for blob in layers]
    assert config["rootfs"] == {"type": "layers", "diff_ids": [sha256(gzip.decompress(blob)) for blob in layers]}
    assert (config["os"], config["architecture"]) == ("linux", "amd64")  # what a node's platform matcher picks
