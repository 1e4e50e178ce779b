"""A private containerd with its CRI plugin, driven with crictl: what a kubelet asks of a node's runtime.

``running_containerd(work, registry_host, sandbox_image)`` starts containerd with everything under ``work``: root,
state, gRPC and ttrpc sockets, runc root, its CNI and opt dirs; ``imports = []`` so no system configuration is read,
NRI off, a ``hosts.toml`` that lets it pull plain HTTP from the loopback test registry, and
``restrict_oom_score_adj`` (machines without CAP_SYS_RESOURCE cannot give a sandbox ``oom_score_adj -998``; runc
then fails every sandbox with "can't get final child's PID from pipe"). Pods get a cgroup parent of their own.

Teardown runs whatever happened in the test: every pod is stopped and removed through CRI, containerd is ended by its
PID, any shim or container process of this instance left behind is killed by PID (found by its socket address and
by the pods' cgroup), whatever is still mounted under ``work`` is unmounted deepest first, and the cgroups are removed.
``leftovers()`` reports what would show a leak; the fixtures assert it is empty.

The pinned tool versions come from ``.ci/runtimes.env``, which ``.ci/install-runtimes`` (run by ``make tools``) reads
to build them; a missing tool fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
RUNTIMES_ENV = REPO / ".ci" / "runtimes.env"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CRI_STATE = "io.containerd.grpc.v1.cri"
# The one place outside its dirs a containerd writes to: shims listen on sockets here, whatever the config says.
SHIM_SOCKETS = Path("/run/containerd/s")
READY_SECONDS = 30.0
CRICTL_TIMEOUT = 90
NETWORK_NODE = 2  # NamespaceMode.NODE: host network, no CNI needed


def pinned_versions() -> dict[str, str]:
    """``.ci/runtimes.env`` as a mapping (``SKILLCTL_TOOLS_DIR`` in the environment overrides the tools dir)."""
    values = {}
    for line in RUNTIMES_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    values["SKILLCTL_TOOLS"] = os.environ.get("SKILLCTL_TOOLS_DIR") or values["SKILLCTL_TOOLS"]
    return values


def runtime_tool(name: str, binary: str | None = None, *, install: str = "make tools") -> Path:
    """The pinned build of ``name`` (``containerd``, ``crictl``, ``kubelet``); missing, it fails the test."""
    versions = pinned_versions()
    path = Path(versions["SKILLCTL_TOOLS"]) / f"{name}-{versions[f'{name.upper()}_VERSION']}" / (binary or name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not installed; run '{install}' (CI installs it)", pytrace=False)
    return path


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the runtime tests need root: containerd mounts overlay filesystems and runs runc", pytrace=False)


# -- the host, as seen from here --------------------------------------------------------------------------------------


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first."""
    prefix = str(path)
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line contains ``text`` (a socket path or directory unique to one test)."""
    found = []
    needle = text.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
    return found


def cgroup_dirs(relative: str) -> list[Path]:
    """``relative`` (``/name``) in every cgroup hierarchy (v1 controllers and the unified one), where it exists."""
    rel = relative.strip("/")
    found = [CGROUP_ROOT / rel] if (CGROUP_ROOT / rel / "cgroup.procs").exists() else []
    if CGROUP_ROOT.is_dir():
        found += [h / rel for h in sorted(CGROUP_ROOT.iterdir()) if (h / rel).is_dir() and h.name != rel]
    return found


def cgroup_pids(relative: str) -> set[int]:
    """Every process in the cgroup ``relative`` or below it, in any hierarchy."""
    pids: set[int] = set()
    for top in cgroup_dirs(relative):
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
    return pids


def remove_cgroup(relative: str, *, seconds: float = 5.0) -> None:
    """Remove the cgroup ``relative`` and its children in every hierarchy, deepest first.

    A cgroup stays busy until its killed processes are reaped (by whoever inherited them), so this retries briefly.
    """
    deadline = time.monotonic() + seconds
    while tops := cgroup_dirs(relative):
        for top in tops:
            for sub in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                with contextlib.suppress(OSError):
                    sub.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


def kill_pids(pids: set[int] | list[int], *, grace: float = 5.0) -> None:
    """SIGTERM each PID, wait up to ``grace`` seconds, then SIGKILL the ones still there."""
    pids = set(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = {p for p in pids if alive(p)}
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def unmount_all(path: Path) -> None:
    """Unmount everything at or below ``path``, deepest first (lazily: a busy mount must not stop the teardown)."""
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)


def wait_until(what: str, check: Callable[[], Any], seconds: float, *, detail: Callable[[], str] = str) -> Any:
    """Poll ``check`` until it returns something true; fail with ``what`` (and ``detail()``) after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:.0f}s waiting for {what}\n{detail()}", pytrace=False)
        time.sleep(0.2)


# -- containerd -------------------------------------------------------------------------------------------------------


@dataclass
class Containerd:
    """A running private containerd and the crictl that talks to it."""

    work: Path
    crictl_bin: Path
    process: subprocess.Popen[bytes] | None = None
    cgroup_parent: str = field(default_factory=lambda: f"/skillctl-cri-{os.getpid()}-{secrets.token_hex(3)}")
    created: list[Path] = field(default_factory=list)  # host dirs this instance made (removed again when empty)

    @property
    def socket(self) -> Path:
        return self.work / "containerd.sock"

    @property
    def state(self) -> Path:
        return self.work / "state"

    @property
    def image_volumes(self) -> Path:
        """Where containerd mounts each pod's image volumes (``<sandbox-id>/<manifest-digest>``)."""
        return self.state / CRI_STATE / "image-volumes"

    @property
    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.work / "containerd.log").read_text(errors="replace")
        return ""

    # -- crictl ---------------------------------------------------------------------------------------------
    def crictl(self, *args: str, check: bool = True, timeout: float = CRICTL_TIMEOUT) -> subprocess.CompletedProcess:
        argv = [str(self.crictl_bin), "--config", str(self.work / "crictl.yaml"), *args]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"crictl {' '.join(args)} did not finish within {timeout}s: {exc.stderr!r}", pytrace=False)
        if check and result.returncode != 0:
            pytest.fail(
                f"crictl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}\n"
                f"containerd log (end):\n{self.log[-3000:]}",
                pytrace=False,
            )
        return result

    def pull(self, ref: str) -> subprocess.CompletedProcess:
        return self.crictl("pull", ref)

    def image_id(self, ref: str) -> str:
        return json.loads(self.crictl("inspecti", "-o", "json", ref).stdout)["status"]["id"]

    def write_json(self, name: str, doc: dict[str, Any]) -> Path:
        path = self.work / "requests" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(doc, indent=1))
        return path

    def pod_config(self, name: str) -> dict[str, Any]:
        """A host-network pod sandbox in this instance's cgroup parent."""
        return {
            "metadata": {"name": name, "namespace": "default", "uid": f"{name}-{secrets.token_hex(4)}", "attempt": 0},
            "log_directory": str(self.work / "pod-logs" / name),
            "linux": {
                "cgroup_parent": self.cgroup_parent,
                "security_context": {"namespace_options": {"network": NETWORK_NODE}},
            },
        }

    def run_pod(self, name: str) -> tuple[str, Path]:
        """RunPodSandbox; returns the sandbox ID and its config file (CreateContainer needs it again)."""
        config = self.write_json(f"pod-{name}.json", self.pod_config(name))
        return self.crictl("runp", str(config)).stdout.strip(), config

    def create(
        self, pod: tuple[str, Path], name: str, image: str, mounts: list[dict[str, Any]], *, check: bool = True
    ) -> subprocess.CompletedProcess:
        """CreateContainer running ``sleep inf`` with ``mounts`` (CRI ``Mount`` objects, ``image`` included)."""
        config = {
            "metadata": {"name": name},
            "image": {"image": image},
            "command": ["/bin/sleep", "inf"],
            "mounts": mounts,
            "log_path": f"{name}.log",
            "linux": {},
        }
        path = self.write_json(f"container-{name}-{secrets.token_hex(3)}.json", config)
        return self.crictl("create", "--no-pull", pod[0], str(path), str(pod[1]), check=check)

    def start_container(self, pod: tuple[str, Path], name: str, image: str, mounts: list[dict[str, Any]]) -> str:
        cid = self.create(pod, name, image, mounts).stdout.strip()
        self.crictl("start", cid)
        return cid

    def exec(self, cid: str, script: str, timeout: float = CRICTL_TIMEOUT) -> subprocess.CompletedProcess:
        """``sh -c script`` inside the container; the result keeps its exit status, stdout and stderr."""
        return self.crictl("exec", cid, "sh", "-c", script, check=False, timeout=timeout)

    def pods(self) -> list[str]:
        return self.crictl("pods", "-q", check=False, timeout=30).stdout.split()

    def containers(self, *filters: str) -> list[str]:
        return self.crictl("ps", "-a", "-q", *filters, check=False, timeout=30).stdout.split()

    def remove_pod(self, pod_id: str) -> None:
        self.crictl("stopp", pod_id)
        self.crictl("rmp", pod_id)

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self, registry_host: str, sandbox_image: str) -> None:
        w = self.work
        self.created = [d for d in (SHIM_SOCKETS.parent, SHIM_SOCKETS) if not d.exists()]
        for sub in ("certs.d", "pod-logs", "cni/bin", "cni/net.d", "opt", "tmp"):
            (w / sub).mkdir(parents=True, exist_ok=True)
        hosts = w / "certs.d" / registry_host / "hosts.toml"
        hosts.parent.mkdir()
        server = f"http://{registry_host}"
        hosts.write_text(f'server = "{server}"\n[host."{server}"]\n  capabilities = ["pull", "resolve"]\n')
        cri_images, cri_runtime = "plugins.'io.containerd.cri.v1.images'", "plugins.'io.containerd.cri.v1.runtime'"
        (w / "containerd.toml").write_text(
            f"""version = 3
root = "{w / "root"}"
state = "{self.state}"
imports = []
disabled_plugins = ["io.containerd.nri.v1.nri"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[plugins.'io.containerd.internal.v1.opt']
  path = "{w / "opt"}"
[{cri_images}]
  snapshotter = "overlayfs"
  [{cri_images}.pinned_images]
    sandbox = "{sandbox_image}"
  [{cri_images}.registry]
    config_path = "{w / "certs.d"}"
[{cri_runtime}]
  restrict_oom_score_adj = true
  [{cri_runtime}.cni]
    bin_dirs = ["{w / "cni/bin"}"]
    conf_dir = "{w / "cni/net.d"}"
  [{cri_runtime}.containerd.runtimes.runc.options]
    Root = "{w / "runc"}"
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
"""
        )
        (w / "crictl.yaml").write_text(
            f"runtime-endpoint: unix://{self.socket}\nimage-endpoint: unix://{self.socket}\ntimeout: 60\n"
        )
        binary = runtime_tool("containerd")
        # Its own PATH (the shim beside it, then runc) and nothing of the user's environment.
        env = {"PATH": f"{binary.parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(w)}
        env["TMPDIR"] = str(w / "tmp")
        with (w / "containerd.log").open("wb") as log:
            self.process = subprocess.Popen(
                [str(binary), "--config", str(w / "containerd.toml")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"containerd exited with {self.process.returncode}:\n{self.log[-3000:]}", pytrace=False)
            return self.socket.exists() and self.crictl("version", check=False, timeout=10).returncode == 0

        wait_until("containerd to answer on its CRI socket", ready, READY_SECONDS, detail=lambda: self.log[-3000:])

    def stop(self) -> None:
        """Tear everything down, whatever state the test left it in; every step runs even if one before failed."""
        if self.process is not None and self.process.poll() is None:
            for pod_id in self.pods():  # a private containerd: every pod is this instance's
                self.crictl("stopp", pod_id, check=False, timeout=60)
                self.crictl("rmp", "--force", pod_id, check=False, timeout=60)
        if self.process is not None:
            kill_pids([self.process.pid], grace=10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        # Shims outlive containerd; so would the containers they run.
        kill_pids(set(processes_mentioning(str(self.socket))) | cgroup_pids(self.cgroup_parent), grace=5)
        unmount_all(self.work)
        remove_cgroup(self.cgroup_parent)
        for socket in self.shim_sockets():  # a killed shim leaves its socket
            socket.unlink(missing_ok=True)
        for directory in reversed(self.created):
            with contextlib.suppress(OSError):  # not empty: another containerd's shims use it
                directory.rmdir()

    def shim_sockets(self) -> list[Path]:
        """The sockets of this instance's shims that still exist (their addresses are in containerd's log)."""
        found = re.findall(r'address="unix://(' + re.escape(str(SHIM_SOCKETS)) + r'/[0-9a-f]+)"', self.log)
        return sorted({Path(s) for s in found if Path(s).exists()})

    def leftovers(self) -> dict[str, Any]:
        """What this instance left behind: processes, mounts, cgroups. Empty when the teardown was clean."""
        found: dict[str, Any] = {}
        running = [p for p in processes_mentioning(str(self.socket)) if alive(p)]
        if self.process is not None and self.process.poll() is None:
            running.append(self.process.pid)
        if running:
            found["processes"] = sorted(set(running))
        if pids := {p for p in cgroup_pids(self.cgroup_parent) if alive(p)}:
            found["processes in the pods' cgroup"] = sorted(pids)
        if mounts := mounts_under(self.work):
            found["mounts"] = mounts
        if cgroups := cgroup_dirs(self.cgroup_parent):
            found["cgroups"] = [str(c) for c in cgroups]
        if sockets := self.shim_sockets():
            found["shim sockets"] = [str(s) for s in sockets]
        if made := [str(d) for d in self.created if d.exists()]:
            found["host dirs"] = made
        return found


@contextlib.contextmanager
def running_containerd(work: Path, registry_host: str, sandbox_image: str) -> Iterator[Containerd]:
    """A private containerd under ``work``; torn down on exit, whatever happened inside the block."""
    require_root()
    work.mkdir(parents=True, exist_ok=True)
    node = Containerd(work=work, crictl_bin=runtime_tool("crictl"))
    try:
        node.start(registry_host, sandbox_image)
        yield node
    finally:
        node.stop()


def image_mount(container_path: str, reference: str, *, sub_path: str = "") -> dict[str, Any]:
    """A CRI ``Mount`` of an image volume, as the kubelet sends it for ``spec.volumes[].image``."""
    mount: dict[str, Any] = {"container_path": container_path, "readonly": True, "image": {"image": reference}}
    if sub_path:
        mount["image_sub_path"] = sub_path
    return mount
