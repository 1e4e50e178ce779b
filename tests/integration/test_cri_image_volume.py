"""Skill images as Kubernetes image volumes on a real runtime: containerd's CRI plugin, asked what a kubelet asks.

A skill (examples/log-triage plus a binary file, an empty file, a deep directory, a symlink, and files that must stay
out) is packed and pushed with skillctl to the loopback test registry; ``skillctl kube --format json`` says which
digest-pinned reference to mount where. A private containerd (tests/cri.py) pulls it, runs a host-network pod
sandbox and a container whose CRI mounts carry ``Mount.image`` (what the kubelet sends for ``spec.volumes[].image``),
once whole and once with ``image_sub_path`` (``volumeMounts[].subPath``). Inside, every entry must match the skill
directory byte for byte, exec bits kept, a packaged script must run straight from the mount, and the mount must be
read-only. An ORAS-style artifact of the same directory must be refused when the container is created, and nothing
may stay mounted or running once the pod, or the whole runtime after a failed test, is gone.

Versions are pinned in .ci/runtimes.env (containerd v2.4.2 with Debian's runc, crictl v1.37.0).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require_tool
from cri import (
    Containerd,
    alive,
    image_mount,
    mounts_under,
    processes_mentioning,
    require_root,
    running_containerd,
    runtime_tool,
)
from registry import Registry
from runtime_images import Published, publish
from volume_checks import TRIAGE, expected_tree, mount_options, run_triage, tree_in

pytestmark = pytest.mark.integration

SUB_PATH = "scripts"


@dataclass
class Node:
    """The private containerd with one running agent pod that mounts the skill twice."""

    containerd: Containerd
    images: Published
    reference: str  # the volume reference from the Pod
    mount: str  # its mountPath
    agent: str  # the container ID

    def run(self, script: str):
        return self.containerd.exec(self.agent, script)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Published:
    return publish(tmp_path_factory.mktemp("cri-images"), registry, {"pod": "agent"})


@pytest.fixture(scope="module")
def containerd(tmp_path_factory: pytest.TempPathFactory, registry: Registry, images: Published) -> Iterator[Containerd]:
    require_root()
    require_tool("runc")
    with running_containerd(tmp_path_factory.mktemp("cri"), registry.host, images.busybox) as node:
        node.pull(images.busybox)
        yield node
    assert node.leftovers() == {}


@pytest.fixture(scope="module")
def node(containerd: Containerd, images: Published) -> Node:
    """The agent container of the Pod skillctl printed, its skill mounted whole and through ``image_sub_path``."""
    spec = images.kube["pod"]["spec"]
    (volume,) = spec["volumes"]
    (container,) = spec["containers"]
    (mount,) = container["volumeMounts"]
    assert mount["name"] == volume["name"] and mount["readOnly"] is True
    reference, path = volume["image"]["reference"], mount["mountPath"]
    containerd.pull(reference)  # the kubelet pulls every image volume before CreateContainer; containerd needs it
    pod = containerd.run_pod("agent")
    mounts = [image_mount(path, reference), image_mount(f"{path}-{SUB_PATH}", reference, sub_path=SUB_PATH)]
    agent = containerd.start_container(pod, container["name"], images.busybox, mounts)
    return Node(containerd, images, reference, path, agent)


def test_the_pod_mounts_the_pinned_digest_skillctl_pushed(node: Node):
    assert node.reference == node.images.pinned
    assert node.mount == "/skills/log-triage"
    # containerd resolved the mount to the image it pulled for that digest
    status = json.loads(node.containerd.crictl("inspect", "-o", "json", node.agent).stdout)["status"]
    image_mounts = [m for m in status["mounts"] if m.get("image")]
    assert [m["containerPath"] for m in image_mounts] == [node.mount, f"{node.mount}-{SUB_PATH}"]
    assert {m["image"]["image"] for m in image_mounts} == {node.reference}


def test_the_tree_is_byte_identical_to_the_skill_directory(node: Node):
    expected = expected_tree(node.images.skill)
    assert "./data/bytes.bin" in expected and "./scripts/triage.sh" in expected  # what the comparison covers
    assert tree_in(node.run, node.mount) == expected


def test_exec_bits_are_kept_and_the_script_runs_from_the_mount(node: Node):
    assert tree_in(node.run, node.mount)["./scripts/triage.sh"].startswith("F|755|")
    result = run_triage(node.run, node.mount)
    assert (result.returncode, result.stdout) == (0, TRIAGE), result.stderr
    # containerd 2.4 mounts image volumes without noexec (CRI-O adds it; the README says so)
    assert "noexec" not in mount_options(node.run, node.mount)


def test_the_mount_is_read_only(node: Node):
    assert "ro" in mount_options(node.run, node.mount)
    for target in (f"{node.mount}/new-file", f"{node.mount}/SKILL.md", f"{node.mount}-{SUB_PATH}/new-file"):
        result = node.run(f"touch {target}")
        assert result.returncode != 0
        assert "Read-only file system" in result.stderr
    assert tree_in(node.run, node.mount) == expected_tree(node.images.skill)  # and nothing changed


def test_image_sub_path_mounts_only_that_directory(node: Node):
    sub = f"{node.mount}-{SUB_PATH}"
    assert tree_in(node.run, sub) == expected_tree(node.images.skill, under=SUB_PATH)
    assert "ro" in mount_options(node.run, sub)
    result = node.run(f"{sub}/triage.sh /dev/null")
    assert (result.returncode, result.stdout) == (0, "== counts by level and component\n"
                                                     "== first occurrence of each error\n"), result.stderr  # fmt: skip


def test_an_oras_style_artifact_is_refused_at_container_creation(containerd: Containerd, images: Published):
    """Empty config, an ``artifactType``, no ``rootfs.diff_ids``: containerd 2.4 pulls it but will not mount it."""
    containerd.pull(images.oras)
    pod = containerd.run_pod("oras")
    result = containerd.create(pod, "agent-oras", images.busybox, [image_mount("/skills/log-triage", images.oras)],
                               check=False)  # fmt: skip
    assert result.returncode != 0, f"containerd mounted an ORAS-style artifact: {result.stdout}"
    assert "ImageVolumeMountFailed" in result.stderr
    assert "mismatched image rootfs and manifest layers" in result.stderr
    assert containerd.containers("--pod", pod[0]) == []
    containerd.remove_pod(pod[0])


def test_removing_the_pod_unmounts_its_image_volume(containerd: Containerd, node: Node):
    pod = containerd.run_pod("short-lived")
    cid = containerd.start_container(pod, "reader", node.images.busybox, [image_mount("/skills/x", node.reference)])
    assert containerd.exec(cid, "cat /skills/x/SKILL.md").stdout == (node.images.skill / "SKILL.md").read_text()
    volumes = containerd.image_volumes / pod[0]
    # one mount per pod and image, named by the manifest digest
    assert mounts_under(volumes) == [f"{volumes}/{node.images.digest.removeprefix('sha256:')}"]
    containerd.remove_pod(pod[0])
    assert mounts_under(volumes) == []
    assert pod[0] not in containerd.pods()
    # the other pod's volume is untouched
    assert containerd.exec(node.agent, f"test -f {node.mount}/SKILL.md").returncode == 0


@pytest.mark.parametrize("crash", [False, True], ids=["test-fails", "containerd-dies-too"])
def test_a_failing_test_leaves_nothing_mounted_or_running(tmp_path: Path, registry: Registry, node: Node, crash):
    """The teardown itself: a second containerd is abandoned mid-test with a running pod that mounts the skill,
    either still answering (the pods are stopped through CRI) or killed first (shims and containers are orphans)."""

    class Boom(Exception):
        pass

    work = tmp_path / "abandoned"
    with pytest.raises(Boom), running_containerd(work, registry.host, node.images.busybox) as other:
        other.pull(node.images.busybox)
        other.pull(node.reference)
        pod = other.run_pod("abandoned")
        cid = other.start_container(pod, "reader", node.images.busybox, [image_mount("/skills/x", node.reference)])
        pid = int(json.loads(other.crictl("inspect", "-o", "json", cid).stdout)["info"]["pid"])
        shims = processes_mentioning(str(other.socket))
        assert shims, "no shim found for the running pod"
        assert mounts_under(other.image_volumes / pod[0]), "the skill is not mounted"
        assert alive(pid)
        if crash:
            assert other.process is not None
            other.process.kill()
            other.process.wait(timeout=10)
        raise Boom
    assert other.leftovers() == {}
    assert not alive(pid), "the container's process survived the teardown"
    assert not any(alive(p) for p in shims), "a shim survived the teardown"
    assert runtime_tool("containerd").is_file()  # the cached tools are left alone
