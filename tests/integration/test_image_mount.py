"""The real thing a kubelet does for an ImageVolume, with podman: mount a skill image into a container and use it.

``examples/log-triage`` is pushed with skillctl to the test registry; ``skillctl kube`` says what to mount (the
reference pinned to its digest) and where; podman runs an offline busybox image (built here with buildah from the
host's static busybox, nothing fetched) with ``--mount type=image`` and reads ``SKILL.md`` and runs the packaged
script from the mount. Everything podman and buildah store lives in a private directory (vfs driver), removed at
the end (notes: container-tools.md §9). podman needs a short runroot, so it is a new directory in the
system's temporary directory rather than under pytest's ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import EXAMPLES, require_tool
from registry import Registry
from volume_checks import LOG, TRIAGE

from skillctl.cli.app import cli

pytestmark = pytest.mark.integration

TIMEOUT = 120
BASE = "localhost/skillctl-test-busybox:latest"
APPLETS = ("sh", "awk", "sort", "cat", "find", "touch", "echo")


@dataclass
class Containers:
    """podman and buildah on a private storage under ``root``."""

    root: Path
    env: dict[str, str]

    @property
    def storage(self) -> list[str]:
        return ["--root", str(self.root / "root"), "--runroot", str(self.root / "run"), "--storage-driver", "vfs"]

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{' '.join(argv)} did not finish within {TIMEOUT}s: {exc.stderr!r}", pytrace=False)
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}", pytrace=False)
        return result

    def buildah(self, *args: str) -> str:
        return self._run(["buildah", *self.storage, *args]).stdout

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        engine = ["--tmpdir", str(self.root / "libpod"), "--runtime", "runc", "--cgroup-manager=cgroupfs"]
        return self._run(["podman", *self.storage, *engine, *args], check=check)

    def run(self, *args: str, mounts: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """``podman run`` of the busybox image: no network, nothing pulled, removed afterwards."""
        volumes = [flag for m in mounts for flag in ("--mount", m)]
        return self.podman("run", "--rm", "--net", "none", "--pull", "never", *volumes, *args, check=check)


def _build_base(c: Containers, work: Path) -> None:
    """A FROM-scratch image holding the host's static busybox and its applets as links in /bin."""
    busybox = Path(require_tool("busybox")).resolve()
    bin_dir = work / "rootfs" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(busybox, bin_dir / "busybox")
    for applet in APPLETS:
        (bin_dir / applet).symlink_to("busybox")
    container = c.buildah("from", "scratch").strip()
    c.buildah("copy", container, str(bin_dir), "/bin")
    c.buildah("config", "--env", "PATH=/bin", "--cmd", "/bin/sh", container)
    c.buildah("commit", "-q", container, BASE)
    c.buildah("rm", container)


def _clean(c: Containers) -> None:
    """Remove every container and image, then the directory itself (read-only files included).

    Each step is tried even when one before it failed or timed out; only the final removal must succeed.
    """
    engine = ["--tmpdir", str(c.root / "libpod"), "--runtime", "runc", "--cgroup-manager=cgroupfs"]
    steps = [
        ["podman", *c.storage, *engine, "rm", "--all", "--force"],
        ["buildah", *c.storage, "rm", "--all"],
        ["podman", *c.storage, *engine, "rmi", "--all", "--force"],
    ]
    mounted = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    steps += [["umount", "-l", m] for m in sorted((m for m in mounted if m.startswith(str(c.root))), reverse=True)]
    steps.append(["chmod", "-R", "u+rwx", str(c.root)])
    for argv in steps:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            subprocess.run(argv, capture_output=True, env=c.env, timeout=TIMEOUT, check=False)
    shutil.rmtree(c.root)


@pytest.fixture
def containers(tmp_path: Path) -> Iterator[Containers]:
    for tool in ("podman", "buildah", "runc", "busybox"):
        require_tool(tool)
    # Short: podman refuses a runroot longer than 50 characters (pytest's tmp_path is longer).
    root = Path(tempfile.mkdtemp(prefix="skillctl-pm-"))
    (root / "containers.conf").write_text("[containers]\ndefault_ulimits = []\n")
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root / "root"}"\nrunroot = "{root / "run"}"\n'
    )
    env = dict(os.environ)
    env.update(CONTAINERS_CONF=str(root / "containers.conf"), CONTAINERS_STORAGE_CONF=str(root / "storage.conf"))
    c = Containers(root, env)
    try:
        _build_base(c, tmp_path)
        yield c
    finally:
        _clean(c)
    assert not root.exists()


def skillctl(store: Path, *args: object) -> str:
    argv = ["--store", str(store), *(str(a) for a in args)]
    result = CliRunner().invoke(cli, argv, catch_exceptions=False, prog_name="skillctl")
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def test_skill_image_is_mounted_and_its_script_runs(containers, registry: Registry, tmp_path, store_path):
    example = EXAMPLES / "log-triage"
    ref = f"{registry.repo('log-triage')}:0.3.0"
    skillctl(store_path, "pack", example)
    skillctl(store_path, "push", "examples/ops/log-triage:0.3.0-draft", ref, "--tls-verify=false", "--timeout", TIMEOUT)
    digest = registry.digest(ref)
    assert digest is not None

    # What a kubelet would be told: the pinned reference and the mount path.
    patch = yaml.safe_load(
        skillctl(store_path, "kube", ref, "--kind", "patch", "--tls-verify=false", "--timeout", TIMEOUT)
    )
    spec = patch["spec"]["template"]["spec"]
    (volume,) = spec["volumes"]
    (mount,) = spec["containers"][0]["volumeMounts"]
    reference, path = volume["image"]["reference"], mount["mountPath"]
    assert reference == f"{ref.rsplit(':', 1)[0]}@{digest}"
    assert path == "/skills/log-triage"

    containers.podman("pull", "-q", "--tls-verify=false", reference)
    skill = f"type=image,src={reference},dst={path}"

    shown = containers.run(BASE, "/bin/busybox", "cat", f"{path}/SKILL.md", mounts=[skill])
    assert shown.stdout == (example / "SKILL.md").read_text()

    listed = containers.run(BASE, "/bin/busybox", "find", path, "-type", "f", mounts=[skill]).stdout.split()
    packaged = ("SKILL.md", "skill.yaml", "scripts/triage.sh", "references/severity.md", "assets/incident-note.md")
    assert sorted(listed) == sorted(f"{path}/{p}" for p in packaged)  # .skillignore itself is not packaged

    log = tmp_path / "app.log"
    log.write_text(LOG)
    data = f"type=bind,src={log},dst=/data/app.log,ro"
    triage = containers.run(
        BASE, "/bin/busybox", "sh", f"{path}/scripts/triage.sh", "/data/app.log", mounts=[skill, data]
    )
    assert triage.stdout == TRIAGE, triage.stderr

    # Read-only, as an ImageVolume is: the container cannot change the skill.
    write = containers.run(BASE, "/bin/busybox", "touch", f"{path}/scripts/changed", mounts=[skill], check=False)
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr


def test_the_mount_shows_exactly_the_pushed_image(containers, registry: Registry, tmp_path, store_path):
    """Two versions behind one repository: each digest mounts its own files (no mix-up, no cache)."""
    repo = registry.repo("log-triage")
    refs = {}
    for marker in ("first", "second"):
        src = tmp_path / marker / "log-triage"
        shutil.copytree(EXAMPLES / "log-triage", src)
        (src / "references" / "marker.md").write_text(f"{marker}\n")
        skillctl(store_path, "pack", src)
        ref = f"{repo}:0.3.0-{marker}"
        skillctl(
            store_path, "push", "examples/ops/log-triage:0.3.0-draft", ref, "--tls-verify=false", "--timeout", TIMEOUT
        )
        refs[marker] = f"{repo}@{registry.digest(ref)}"
    assert refs["first"] != refs["second"]
    for reference in refs.values():
        containers.podman("pull", "-q", "--tls-verify=false", reference)
    mounts = [f"type=image,src={r},dst=/skills/{m}" for m, r in refs.items()]
    out = containers.run(
        BASE, "/bin/busybox", "cat", "/skills/first/references/marker.md", "/skills/second/references/marker.md",
        mounts=mounts,
    ).stdout  # fmt: skip
    assert out == "first\nsecond\n"
