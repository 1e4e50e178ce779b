"""A standalone kubelet (no API server) on a private containerd, running static Pods: a Kubernetes node, alone.

The kubelet reads Pod manifests from a directory (``staticPodPath``), pulls every image and image volume itself
through CRI, and reports what it does in its log. Settings this needs on machines like the project's (a VM with a
hybrid cgroup v1 hierarchy, no swap accounting, no CNI): ``failCgroupV1: false`` (1.35+ refuses cgroup v1
otherwise), ``cgroupsPerQOS: false`` with no node-allocatable enforcement, ``failSwapOn: false``, no local storage
isolation, lax eviction, image GC off, its server on 127.0.0.1 without authentication, and Pods with
``hostNetwork: true``.

A standalone kubelet changes the host: it sets six sysctls when they differ (``vm.overcommit_memory=1``,
``kernel.panic=10``, ...), creates ``/var/lib/kubelet/device-plugins`` whatever ``--root-dir`` says and
``/var/log/containers`` (both hard-coded), bind-mounts its root dir onto itself, and its pods land in containerd's
default cgroup ``/k8s.io/<id>``. (Its volume plugin dir, ``/usr/libexec/kubernetes/...`` by default, is moved
under ``work``.) ``HostState`` records all of that before the kubelet starts and puts it back afterwards;
``HostState.changes()`` says what differs.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cri import Containerd, cgroup_dirs, cgroup_pids, kill_pids, remove_cgroup, runtime_tool, unmount_all
from registry import free_port

NODE = "skillctl-e2e-node"
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
)
# Created by the kubelet whatever its configuration says (the last one only if volumePluginDir were left alone).
HOST_DIRS = (Path("/var/lib/kubelet"), Path("/var/log/containers"), Path("/usr/libexec/kubernetes"))
POD_CGROUP = "/k8s.io"  # containerd's default parent for pods that name none


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


@dataclass
class HostState:
    """What a standalone kubelet changes outside its own directories, as it was before."""

    sysctls: dict[str, str]
    dirs: dict[Path, bool]  # whether each of HOST_DIRS existed
    pod_cgroup: bool

    @classmethod
    def save(cls) -> HostState:
        return cls(
            sysctls={key: _sysctl_path(key).read_text().strip() for key in SYSCTLS},
            dirs={d: d.exists() for d in HOST_DIRS},
            pod_cgroup=bool(cgroup_dirs(POD_CGROUP)),
        )

    def restore(self) -> None:
        for key, value in self.sysctls.items():
            if _sysctl_path(key).read_text().strip() != value:
                _sysctl_path(key).write_text(value + "\n")
        for directory, existed in self.dirs.items():
            if not existed:  # then all it holds is the kubelet's
                shutil.rmtree(directory, ignore_errors=True)
        if not self.pod_cgroup:  # only ours can be in it
            kill_pids(cgroup_pids(POD_CGROUP))
            remove_cgroup(POD_CGROUP)

    def changes(self) -> dict[str, Any]:
        """How the host differs from this saved state (empty when it was put back)."""
        now = HostState.save()
        found: dict[str, Any] = {k: (v, now.sysctls[k]) for k, v in self.sysctls.items() if now.sysctls[k] != v}
        for directory, existed in self.dirs.items():
            if now.dirs[directory] != existed:
                found[str(directory)] = "created" if now.dirs[directory] else "removed"
        if now.pod_cgroup != self.pod_cgroup:
            found[POD_CGROUP] = "cgroup created" if now.pod_cgroup else "cgroup removed"
        return found


@dataclass
class Kubelet:
    """A kubelet process with its config, root dir, manifests and log under ``work``."""

    work: Path
    containerd: Containerd
    host: HostState
    process: subprocess.Popen[bytes] | None = None
    static_pods: dict[str, Path] = field(default_factory=dict)

    @property
    def manifests(self) -> Path:
        return self.work / "manifests"

    @property
    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.work / "kubelet.log").read_text(errors="replace")
        return ""

    def start(self) -> None:
        for sub in ("manifests", "root", "pki", "pod-logs"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        socket = f"unix://{self.containerd.socket}"
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "staticPodPath": str(self.manifests),
            "fileCheckFrequency": "1s",
            "syncFrequency": "5s",
            "address": "127.0.0.1",
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzPort": 0,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "containerRuntimeEndpoint": socket,
            "imageServiceEndpoint": socket,
            "cgroupDriver": "cgroupfs",
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "failCgroupV1": False,
            "failSwapOn": False,
            "podLogsDir": str(self.work / "pod-logs"),
            "localStorageCapacityIsolation": False,
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "resolvConf": "/etc/resolv.conf",
            "volumePluginDir": str(self.work / "volume-plugins"),
        }
        (self.work / "config.json").write_text(json.dumps(config, indent=1))  # YAML is JSON: the kubelet reads it
        argv = [
            str(runtime_tool("kubelet", install="make e2e-kube")),
            "--config", str(self.work / "config.json"),
            "--root-dir", str(self.work / "root"),
            "--cert-dir", str(self.work / "pki"),
            "--hostname-override", NODE,
            "-v=2",
        ]  # fmt: skip
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.work)}
        with (self.work / "kubelet.log").open("wb") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )

    def add_static_pod(self, pod: dict[str, Any]) -> str:
        """Drop ``pod`` into the manifest directory; returns the name the kubelet gives it (``<name>-<node>``)."""
        name = pod["metadata"]["name"]
        path = self.manifests / f"{name}.json"
        staging = self.manifests / f".{name}.json"  # the kubelet skips hidden files: never a half-written manifest
        staging.write_text(json.dumps(pod, indent=1))
        staging.rename(path)
        self.static_pods[name] = path
        return f"{name}-{NODE}"

    def remove_static_pods(self) -> None:
        for path in self.static_pods.values():
            path.unlink(missing_ok=True)
        self.static_pods.clear()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            kill_pids([self.process.pid], grace=10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)


@contextlib.contextmanager
def running_kubelet(work: Path, containerd: Containerd) -> Iterator[Kubelet]:
    """A kubelet on ``containerd``; on exit its pods are removed, it is stopped and the host is put back
    (``kubelet.host.changes()`` is then empty)."""
    kubelet = Kubelet(work=work, containerd=containerd, host=HostState.save())
    try:
        kubelet.start()
        yield kubelet
    finally:
        kubelet.remove_static_pods()
        kubelet.stop()
        for pod_id in containerd.pods():  # whatever the kubelet did not get to stop
            containerd.crictl("stopp", pod_id, check=False, timeout=60)
            containerd.crictl("rmp", "--force", pod_id, check=False, timeout=60)
        unmount_all(work)  # the kubelet's bind mount of its root dir
        kubelet.host.restore()
