"""What a killed run leaves behind is removed: SIGTERM cleans up at once, SIGKILL by the next run.

A run is killed at the moment its temporary state exists (the test polls for it): crane's private Docker
config holding the password, an unpack's hidden directory beside its target, a load's extraction.
SIGKILL cannot be caught, so those are named after their process and swept by the next run that would
create one (or by ``prune`` for the store's own temporary directory); SIGTERM is turned into the same
clean-up Ctrl-C gets.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_registry import Image, Seen, build_image, hostile_registry, skill_files, write_authfile
from registry import need_tool

from skillctl import Store
from skillctl.core import oci

pytestmark = pytest.mark.integration

USER, PASSWORD = "robot", "kill-me-pw"
NO_TLS = "--tls-verify=false"


def exe() -> str:
    return shutil.which("skillctl", path=str(Path(sys.executable).parent)) or "skillctl"


def start(store: Path, *args: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [exe(), "--store", str(store), *(str(a) for a in args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def wait_for(found: Callable[[], list[Path]], proc: subprocess.Popen[bytes], seconds: float = 60) -> list[Path]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        paths = found()
        if paths:
            return paths
        if proc.poll() is not None:
            pytest.fail(f"the run ended ({proc.returncode}) before it could be killed: {proc.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.005)
    pytest.fail("the state to kill the run at never appeared")


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> int:
    """Kill the run (SIGKILL: and its children, as a machine going down would)."""
    if sig == signal.SIGKILL:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    return proc.wait(timeout=60)


def run(store: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [exe(), "--store", str(store), *(str(a) for a in args)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


# -- 11: crane's private Docker config -----------------------------------------------------------------------


def password_files() -> list[Path]:
    """Every credential directory skillctl may have made that holds this test's password."""
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    places = [Path(tempfile.gettempdir())]
    if os.environ.get("XDG_RUNTIME_DIR"):
        places.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "skillctl")
    found = []
    for place in places:
        for config in place.glob("skillctl-auth-*/config.json"):
            try:
                if token in config.read_text():
                    found.append(config.parent)
            except OSError:
                continue
    return found


def test_a_killed_crane_run_does_not_leave_the_password_behind(store_path: Path, tmp_path: Path) -> None:
    need_tool("crane")
    with hostile_registry(basic=(USER, PASSWORD)) as reg:
        reg.put_image("ns/skill", "1.0.0", build_image())
        authfile = write_authfile(tmp_path / "auth.json", reg.host, USER, PASSWORD)

        def crane_hangs(m: object, seen: Seen) -> None:
            if "go-containerregistry" in seen.headers.get("user-agent", ""):
                reg.stopping.wait(120)
            return None

        reg.route("*", r"/v2/.*", crane_hangs)  # type: ignore[arg-type]
        proc = start(store_path, "pull", reg.ref("ns/skill"), "--backend", "crane", NO_TLS, "--authfile", authfile)
        left = wait_for(password_files, proc)
        kill(proc)
        assert all(p.exists() for p in left)  # killed while the credentials were on disk
        reg.routes.clear()
        done = run(store_path, "list", f"{reg.host}/ns/skill", "--backend", "crane", NO_TLS, "--authfile", authfile)
        assert done.returncode == 0, done.stderr
    assert password_files() == []


# -- 15: unpack directories and load extractions -------------------------------------------------------------


def big_image(size: int = 384 * 1024 * 1024) -> Image:
    """A valid skill whose layer (a few hundred KB) unpacks to ``size`` bytes: slow enough to be caught."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in skill_files().items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        tar.addfile(info, _Zeros(size))
    return build_image(raw.getvalue())


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def unpack_dirs(parent: Path) -> list[Path]:
    return sorted(parent.glob(".hostile.unpack-*")) if parent.exists() else []


@pytest.fixture(scope="module")
def big() -> Image:
    return big_image()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_pull_leaves_no_hidden_directory(sig: int, big: Image, store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "skills"
    with hostile_registry() as reg:
        reg.put_image("ns/hostile", "1.0.0", big)
        proc = start(store_path, "pull", reg.ref("ns/hostile"), "-o", out, NO_TLS)
        wait_for(lambda: unpack_dirs(out), proc)
        code = kill(proc, sig)
        if sig == signal.SIGTERM:
            assert code == 143, proc.stderr.read()  # type: ignore[union-attr]
            assert unpack_dirs(out) == []  # cleaned up by the run itself
        else:
            assert unpack_dirs(out) != []
        done = run(store_path, "pull", reg.ref("ns/hostile"), "-o", out, NO_TLS)
        assert done.returncode == 0, done.stderr
    assert unpack_dirs(out) == []
    assert (out / "hostile" / "zeros.bin").stat().st_size == 384 * 1024 * 1024


def test_a_killed_load_leaves_nothing_prune_does_not_remove(store_path: Path, tmp_path: Path) -> None:
    """A bundle of 160 MB that does not compress: long enough to kill load in the middle of it."""
    store = Store(store_path)
    with store.writing():
        layer = os.urandom(160 * 1024 * 1024)
        layer_digest = store.put_blob(layer)
        config = oci.build_config("sha256:" + hashlib.sha256(b"x").hexdigest())
        config_desc = oci.Descriptor(oci.CONFIG_V1, store.put_blob(config), len(config))
        raw = oci.build_manifest(config_desc, [oci.Descriptor(oci.LAYER_TAR_GZIP, layer_digest, len(layer))], {})
        store.put_blob(raw)
        store.set_tag("ns/big:1.0.0", oci.Manifest.parse(raw).descriptor)
    del layer
    bundle = tmp_path / "big.tar"
    assert run(store_path, "save", "ns/big:1.0.0", "-o", bundle).returncode == 0
    other = tmp_path / "other-store"
    leftovers = lambda: [  # noqa: E731
        *Path(tempfile.gettempdir()).glob("skillctl-load-*"),
        *(other / ".skillctl" / "tmp").glob("load-*"),
    ]
    before = set(leftovers())
    proc = start(other, "load", bundle)
    wait_for(lambda: [p for p in leftovers() if p not in before], proc)
    kill(proc)
    assert [p for p in leftovers() if p not in before]
    done = run(other, "prune")
    assert done.returncode == 0, done.stderr
    assert [p for p in leftovers() if p not in before] == []
