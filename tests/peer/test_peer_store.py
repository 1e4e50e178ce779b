"""The local store with the Go skillctl: each tool lists and inspects what the other wrote, same digests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import skillctl

pytestmark = [pytest.mark.peer, pytest.mark.integration]

REF = "examples/hello-world:1.0.0-draft"


def go_list_rows(output: str) -> dict[str, list[str]]:
    """``skillctl-go list --no-trunc`` rows (NAME TAG STATUS DIGEST CREATED) by ``NAME:TAG``."""
    lines = output.splitlines()
    assert lines and lines[0].split() == ["NAME", "TAG", "STATUS", "DIGEST", "CREATED"], output
    return {f"{row[0]}:{row[1]}": row for row in (line.split() for line in lines[1:])}


def go_inspect_fields(output: str) -> dict[str, str]:
    fields = {}
    for line in output.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and value.strip():
            fields[key] = value.strip()
    return fields


def test_go_skillctl_reads_what_we_pack(hello: Path, skillctl_go: Callable[..., str]) -> None:
    # Both tools default to $XDG_DATA_HOME/skillctl/store: the same store, no option needed.
    store = skillctl.Store(skillctl.default_store_path())
    packed = skillctl.pack(hello, store=store)
    assert packed.ref == REF

    rows = go_list_rows(skillctl_go("list", "--no-trunc"))
    assert rows[REF][2:4] == ["draft", packed.digest]

    fields = go_inspect_fields(skillctl_go("inspect", REF))
    annotations = skillctl.inspect_image(REF, store=store).annotations
    assert fields["Skill"] == "examples/hello-world"
    assert fields["Display Name"] == annotations["org.opencontainers.image.title"]
    assert fields["Word Count"] == annotations["io.skillimage.wordcount"]
    assert fields["Version"] == "1.0.0"
    assert fields["Status"] == "draft"
    assert fields["Digest"] == packed.digest


def test_we_read_what_go_skillctl_builds(hello: Path, skillctl_go: Callable[..., str]) -> None:
    skillctl_go("build", str(hello))
    go_digest = go_list_rows(skillctl_go("list", "--no-trunc"))[REF][3]

    store = skillctl.Store(skillctl.default_store_path())
    rows = {row.ref: row for row in skillctl.list_images(store)}
    assert rows[REF].digest == go_digest
    assert (rows[REF].status, rows[REF].version) == ("draft", "1.0.0")

    details = skillctl.inspect_image(REF, store=store)
    assert details.annotations["io.skillimage.status"] == "draft"
    assert details.annotations["org.opencontainers.image.vendor"] == "examples"
    assert [layer.media_type for layer in details.manifest.layers] == ["application/vnd.oci.image.layer.v1.tar+gzip"]
    # Our unpack takes its layer: the skill's files come out as the Go tool packed them.
    unpacked = skillctl.unpack_image(REF, hello.parent / "unpacked", store=store)
    assert unpacked.digest == go_digest
    assert (unpacked.path / "SKILL.md").read_bytes() == (hello / "SKILL.md").read_bytes()
    assert (unpacked.path / "skill.yaml").read_bytes() == (hello / "skill.yaml").read_bytes()
