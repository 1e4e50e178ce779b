"""The Pods ``skillctl kube`` prints, run by a real kubelet: the whole node side of Kubernetes image volumes.

On demand (``make e2e-kube``; marked ``kubelet``, deselected by default): the kubelet is built once with Go
(several minutes), needs root, and changes host sysctls while it runs (put back afterwards, and checked).

A standalone kubelet (tests/kubelet.py) on a private containerd (tests/cri.py) gets three static Pods:
- the Pod from ``skillctl kube --kind pod``, as printed plus ``hostNetwork`` (no CNI here), a short grace period and
  one more mount of the same volume with ``subPath: scripts``;
- the pod template of ``skillctl kube --kind deployment``, as a Pod (a standalone kubelet runs only Pods);
- the first again with its volume pointing at an ORAS-style artifact of the same directory.
The kubelet pulls the agent image and the image volumes itself. Inside the two agents: the same checks as at the CRI
level; the artifact's Pod must stay in ``CreateContainerError`` with no container; deleting the manifests must stop
the Pods and unmount the volumes; and afterwards nothing may run or stay mounted, and the host must be as before.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import require_tool
from cri import Containerd, mounts_under, require_root, running_containerd, wait_until
from kubelet import NODE, Kubelet, running_kubelet
from registry import Registry
from runtime_images import Published, publish
from volume_checks import TRIAGE, expected_tree, mount_options, run_triage, tree_in

pytestmark = [pytest.mark.integration, pytest.mark.kubelet]

KINDS = {"pod": "agent", "deployment": "agent-deployment"}
START_SECONDS = 180.0
SUB_PATH = "scripts"


@dataclass
class KubeNode:
    containerd: Containerd
    kubelet: Kubelet
    images: Published
    pods: dict[str, str]  # kind ("pod", "deployment", "oras") -> the static pod's name on the node

    def container(self, kind: str) -> str:
        (cid,) = self.containerd.crictl(
            "ps", "-q", "--state", "running", "--label", f"io.kubernetes.pod.name={self.pods[kind]}"
        ).stdout.split()
        return cid

    def runner(self, kind: str):
        cid = self.container(kind)
        return lambda script: self.containerd.exec(cid, script)


def static_pods(images: Published) -> dict[str, dict]:
    """The three Pods, made from what skillctl printed."""
    pod = copy.deepcopy(images.kube["pod"])
    deployment = images.kube["deployment"]
    template = copy.deepcopy(deployment["spec"]["template"])
    from_deployment = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": deployment["metadata"]["name"], **template.get("metadata", {})},
        "spec": template["spec"],
    }
    oras = copy.deepcopy(pod)
    oras["metadata"]["name"] = f"{pod['metadata']['name']}-oras"
    for volume in oras["spec"]["volumes"]:
        volume["image"]["reference"] = images.oras
    (mount,) = pod["spec"]["containers"][0]["volumeMounts"]
    pod["spec"]["containers"][0]["volumeMounts"].append(
        {"name": mount["name"], "mountPath": f"{mount['mountPath']}-{SUB_PATH}", "subPath": SUB_PATH, "readOnly": True}
    )
    pods = {"pod": pod, "deployment": from_deployment, "oras": oras}
    for doc in pods.values():
        doc["spec"]["hostNetwork"] = True
        doc["spec"]["terminationGracePeriodSeconds"] = 1
    return pods


def oras_error(kubelet: Kubelet, pod: str) -> str:
    """The kubelet's CreateContainerError line for ``pod``, if it logged one yet."""
    for line in kubelet.log.splitlines():
        if f'pod="default/{pod}"' in line and "CreateContainerError" in line:
            return line
    return ""


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Published:
    return publish(tmp_path_factory.mktemp("kube-images"), registry, KINDS)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, registry: Registry, images: Published) -> Iterator[KubeNode]:
    require_root()
    require_tool("runc")
    work = tmp_path_factory.mktemp("kube")
    with (
        running_containerd(work / "containerd", registry.host, images.busybox) as containerd,
        running_kubelet(work / "kubelet", containerd) as kubelet,
    ):
        assert containerd.crictl("images", "-q").stdout.split() == []  # the kubelet pulls everything itself
        names = {kind: kubelet.add_static_pod(doc) for kind, doc in static_pods(images).items()}
        node = KubeNode(containerd, kubelet, images, names)

        def agents_running() -> bool:
            assert kubelet.running(), f"the kubelet exited:\n{kubelet.log[-3000:]}"
            return all(
                containerd.crictl(
                    "ps", "-q", "--state", "running", "--label", f"io.kubernetes.pod.name={names[k]}"
                ).stdout.strip()
                for k in ("pod", "deployment")
            )

        wait_until("both agent Pods to run", agents_running, START_SECONDS, detail=lambda: kubelet.log[-4000:])
        wait_until("the ORAS Pod's CreateContainerError", lambda: oras_error(kubelet, names["oras"]), START_SECONDS,
                   detail=lambda: kubelet.log[-4000:])  # fmt: skip
        yield node
    assert containerd.leftovers() == {}
    assert kubelet.host.changes() == {}


def test_the_kubelet_pulled_the_pinned_volume_and_sent_it_as_mount_image(node: KubeNode):
    # nothing was pulled before the kubelet started (the fixture checks): it pulled the volume itself
    image_id = node.containerd.image_id(node.images.pinned)
    status = json.loads(node.containerd.crictl("inspect", "-o", "json", node.container("pod")).stdout)["status"]
    image_mounts = [m for m in status["mounts"] if m.get("image")]
    assert [m["containerPath"] for m in image_mounts] == ["/skills/log-triage", f"/skills/log-triage-{SUB_PATH}"]
    for m in image_mounts:
        # the kubelet resolves the reference to the image ID and keeps what the Pod asked for beside it
        assert m["image"]["image"] == image_id
        assert m["image"]["userSpecifiedImage"] == node.images.pinned
        assert m["readonly"] is True


@pytest.mark.parametrize("kind", ["pod", "deployment"])
def test_the_tree_is_byte_identical_to_the_skill_directory(node: KubeNode, kind: str):
    assert tree_in(node.runner(kind), "/skills/log-triage") == expected_tree(node.images.skill)


@pytest.mark.parametrize("kind", ["pod", "deployment"])
def test_exec_bits_are_kept_and_the_script_runs_from_the_mount(node: KubeNode, kind: str):
    run = node.runner(kind)
    assert tree_in(run, "/skills/log-triage")["./scripts/triage.sh"].startswith("F|755|")
    result = run_triage(run, "/skills/log-triage")
    assert (result.returncode, result.stdout) == (0, TRIAGE), result.stderr
    assert "noexec" not in mount_options(run, "/skills/log-triage")


@pytest.mark.parametrize("kind", ["pod", "deployment"])
def test_the_mount_is_read_only(node: KubeNode, kind: str):
    run = node.runner(kind)
    assert "ro" in mount_options(run, "/skills/log-triage")
    result = run("touch /skills/log-triage/new-file")
    assert result.returncode != 0 and "Read-only file system" in result.stderr


def test_sub_path_mounts_only_that_directory(node: KubeNode):
    run = node.runner("pod")
    assert tree_in(run, f"/skills/log-triage-{SUB_PATH}") == expected_tree(node.images.skill, under=SUB_PATH)
    assert "ro" in mount_options(run, f"/skills/log-triage-{SUB_PATH}")


def test_the_oras_artifact_pod_fails_with_create_container_error(node: KubeNode):
    line = oras_error(node.kubelet, node.pods["oras"])
    assert "ImageVolumeMountFailed" in line
    assert re.search(r"mismatched image rootfs and manifest layers", line), line
    label = f"io.kubernetes.pod.name={node.pods['oras']}"
    assert node.containerd.containers("--label", label) == []
    assert node.pods["oras"] == f"agent-oras-{NODE}"


def test_deleting_the_manifests_stops_the_pods_and_unmounts_the_volumes(node: KubeNode):
    assert mounts_under(node.containerd.image_volumes), "no image volume is mounted"
    node.kubelet.remove_static_pods()

    def gone() -> bool:
        return not mounts_under(node.containerd.image_volumes) and not node.containerd.containers("--state", "running")

    wait_until(
        "the kubelet to stop the Pods and unmount their volumes", gone, 90, detail=lambda: node.kubelet.log[-3000:]
    )
