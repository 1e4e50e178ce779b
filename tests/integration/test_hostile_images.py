"""Hostile images, built here byte by byte and pushed to the real test registry, are refused.

Each image is a tar+gzip layer written with :mod:`tarfile`, wrapped in a valid config and manifest
(correct digests), laid out as a one-image OCI layout and copied to the registry with
``skopeo copy --preserve-digests``, so the registry serves exactly these bytes. Every image goes
through ``skillctl pull -o DIR`` and ``skillctl install -o DIR`` (into an empty directory and over a
good version installed before): refused with exit 3 (unsafe content) or 10 (a layer that does not
match its digest), the error names the entry, and nothing is written outside a temporary
directory: no skill directory, no leftover temporary directory, the earlier install unchanged,
nothing outside.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import os
import secrets
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from registry import Registry

from skillctl import Store, UnpackLimits
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.consume.install import destinations, install
from skillctl.core.errors import ExitCode, UnsafeContentError
from skillctl.registry.transfer import pull

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
NAME = "hostile"
GOOD = "1.0.0"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DEFAULT = UnpackLimits()


# -- building images ----------------------------------------------------------------------------


@dataclass
class Entry:
    """One tar entry; ``name`` may hold surrogate escapes, written as the raw (invalid UTF-8) bytes."""

    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    size: int | None = None  # with ``stream``: the declared size of streamed data
    stream: Callable[[], io.RawIOBase] | None = None


def reg(name: str, data: bytes | str = b"x", mode: int = 0o644) -> Entry:
    return Entry(name, tarfile.REGTYPE, data.encode() if isinstance(data, str) else data, mode)


def base_entries(version: str, extra: str = "") -> list[Entry]:
    card = (
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCard\nmetadata:\n"
        f"  name: {NAME}\n  namespace: test\n  version: {version}\n  description: A test skill.\n"
        "spec:\n  prompt: SKILL.md\n"
    )
    return [
        Entry("scripts", tarfile.DIRTYPE, mode=0o755),
        reg("skill.yaml", card),
        reg("SKILL.md", f"---\nname: {NAME}\ndescription: A test skill.\n---\n\n# {NAME}\n{extra}\n"),
        reg("scripts/run.sh", "#!/bin/sh\necho hi\n", 0o755),
    ]


class _Digesting(io.RawIOBase):
    """Writes go to a gzip stream (level 1) and into a sha256 of the uncompressed tar."""

    def __init__(self) -> None:
        self.raw_hash = hashlib.sha256()
        self.out = io.BytesIO()
        self.gz = gzip.GzipFile(fileobj=self.out, mode="wb", compresslevel=1, mtime=0)

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
        self.raw_hash.update(b)
        self.gz.write(b)
        return len(b)


def layer_bytes(entries: list[Entry]) -> tuple[bytes, str]:
    """(gzip bytes, diff_id) of a GNU tar of ``entries`` in order."""
    sink = _Digesting()
    with tarfile.open(
        fileobj=sink, mode="w|", format=tarfile.GNU_FORMAT, errors="surrogateescape", copybufsize=1 << 20
    ) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type, info.mode, info.linkname = e.type, e.mode, e.linkname
            info.devmajor, info.devminor = e.devmajor, e.devminor
            info.mtime, info.uid, info.gid = 0, 0, 0
            if e.type == tarfile.REGTYPE:
                if e.stream is not None:
                    assert e.size is not None
                    info.size = e.size
                    tar.addfile(info, e.stream())
                else:
                    info.size = len(e.data)
                    tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    sink.gz.close()
    return sink.out.getvalue(), "sha256:" + sink.raw_hash.hexdigest()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_image(registry: Registry, repo: str, tag: str, entries: list[Entry], work: Path) -> tuple[str, str]:
    """Build a one-layer image of ``entries``, push it as ``repo:tag``; (manifest digest, layer digest)."""
    gz, diff_id = layer_bytes(entries)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config),
                       "size": len(config)},
            "layers": [{"mediaType": LAYER, "digest": sha256(gz), "size": len(gz)}],
            "annotations": {
                "io.skillimage.status": "published",
                "org.opencontainers.image.title": NAME,
                "org.opencontainers.image.version": tag,
            },
        }
    ).encode()  # fmt: skip
    layout = work / f"layout-{secrets.token_hex(4)}"
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for blob in (gz, config, manifest):
        (blobs / sha256(blob).split(":", 1)[1]).write_bytes(blob)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    desc = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha256(manifest),
        "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "img"},
    }
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.fail("skopeo is not installed; run 'make tools' (CI installs it)", pytrace=False)
    done = subprocess.run(
        [skopeo, "--insecure-policy", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false",
         f"oci:{layout}:img", f"docker://{repo}:{tag}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shutil.rmtree(layout)
    assert registry.digest(f"{repo}:{tag}") == sha256(manifest), "the registry does not hold the crafted bytes"
    return sha256(manifest), sha256(gz)


# -- checking that nothing was written --------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple]:
    """Everything under ``root``: kind, mode, content hash or link target, link count."""
    if not root.exists():
        return {}
    out: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = path.relative_to(root).as_posix()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            out[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_nlink, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


BOOKKEEPING = {".skillimage", ".skillimage/receipts", ".skillimage/receipts/.lock"}


_TAGS = itertools.count()


@dataclass
class Scene:
    """The directories one hostile image is thrown at, and the things outside them it must not touch."""

    root: Path
    store_path: Path
    repo: str
    bad: str = field(default_factory=lambda: f"6.6.{next(_TAGS)}")  # the hostile version's tag
    outside: Path = field(init=False)
    victim: Path = field(init=False)
    pull_out: Path = field(init=False)
    install_out: Path = field(init=False)
    agent_dir: Path = field(init=False)

    @property
    def ref(self) -> str:
        return f"{self.repo}:{self.bad}"

    def push(self, registry: Registry, entries: list[Entry]) -> str:
        """Push the hostile version; its layer digest."""
        return push_image(registry, self.repo, self.bad, entries, self.root)[1]

    def __post_init__(self) -> None:
        self.outside = self.root / "outside"
        self.outside.mkdir()
        self.victim = self.root / "victim.txt"
        self.victim.write_text("precious\n")
        self.pull_out = self.root / "pulled"
        self.install_out = self.root / "installed"
        self.agent_dir = self.root / "agent"

    @property
    def mine(self) -> set[Path]:
        """What commands may create in ``root``: the output directories and the store."""
        return {self.pull_out, self.install_out, self.agent_dir, self.store_path}

    def outside_state(self) -> dict:
        return {
            "root": sorted(p.name for p in self.root.iterdir() if p not in self.mine),
            "outside": snapshot(self.outside),
            "victim": (self.victim.read_text(), self.victim.stat().st_nlink, stat.S_IMODE(self.victim.stat().st_mode)),
        }


def skillctl(store_path: Path, *args: object) -> Result:
    argv = ["--store", str(store_path), *(str(a) for a in args)]
    return CliRunner().invoke(cli, argv, catch_exceptions=False, prog_name="skillctl")


def refused(result: Result, code: int, marker: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert marker in errors[0], (marker, result.stderr)
    return errors[0]


def no_temp_dirs(root: Path) -> None:
    if root.exists():
        assert [p.name for p in root.iterdir() if p.name.startswith(f".{NAME}.")] == []


def throw(scene: Scene, ref: str, code: int, marker: str, *, into_empty: bool = True) -> list[str]:
    """``pull -o`` and ``install -o`` (empty dirs, and over the good version): refused, nothing written.

    ``into_empty=False`` runs only the install over the good version (for images slow to refuse).
    """
    outside_before = scene.outside_state()
    errors = []

    if into_empty:
        result = skillctl(scene.store_path, "pull", ref, "-o", scene.pull_out, NO_TLS)
        errors.append(refused(result, code, marker))
        assert not scene.pull_out.exists() or list(scene.pull_out.iterdir()) == []

        result = skillctl(scene.store_path, "install", ref, "-o", scene.install_out, NO_TLS)
        errors.append(refused(result, code, marker))
        assert set(snapshot(scene.install_out)) <= BOOKKEEPING  # no skill, no receipt, no temporary directory

    agent_before = snapshot(scene.agent_dir)
    assert f"{NAME}/SKILL.md" in agent_before
    errors.append(refused(skillctl(scene.store_path, "install", ref, "-o", scene.agent_dir, NO_TLS), code, marker))
    assert snapshot(scene.agent_dir) == agent_before

    for where in (scene.pull_out, scene.install_out, scene.agent_dir):
        no_temp_dirs(where)
    assert scene.outside_state() == outside_before
    return errors


@dataclass(frozen=True)
class Good:
    repo: str
    agent_dir: Path  # a good version installed, copied for each test


@pytest.fixture(scope="module")
def good(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Good:
    """A repository holding a good 1.0.0, installed once; each hostile version is pushed next to it."""
    root = tmp_path_factory.mktemp("hostile-good")
    with pytest.MonkeyPatch.context() as mp:  # a private HOME for this set-up too
        mp.setenv("HOME", str(root))
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "REGISTRY_AUTH_FILE", "DOCKER_CONFIG"):
            mp.delenv(var, raising=False)
        repo = registry.repo(NAME)
        push_image(registry, repo, GOOD, [*base_entries(GOOD, secrets.token_hex(8)), reg("good.txt", "ok\n")], root)
        result = skillctl(root / "store", "install", f"{repo}:{GOOD}", "-o", root / "agent", NO_TLS)
    assert result.exit_code == 0, result.stderr
    assert (root / "agent" / NAME / "good.txt").read_text() == "ok\n"
    return Good(repo, root / "agent")


@pytest.fixture
def scene(good: Good, tmp_path: Path, store_path: Path) -> Scene:
    """This test's directories, with the good version already installed in ``agent_dir``."""
    s = Scene(tmp_path, store_path, good.repo)
    shutil.copytree(good.agent_dir, s.agent_dir, symlinks=True)
    return s


# -- the hostile entries ---------------------------------------------------------------------------

# Each builder gets the scene and returns (entries after the valid files, a string the error must show).
Builder = Callable[[Scene], tuple[list[Entry], str]]
CASES: dict[str, Builder] = {
    "dotdot": lambda s: ([reg("../escape.txt", "escaped\n")], "../escape.txt"),
    "nested-dotdot": lambda s: ([reg("docs/../../escape.txt", "escaped\n")], "docs/../../escape.txt"),
    "absolute-path": lambda s: ([reg(str(s.outside / "abs.txt"), "pwned\n")], str(s.outside / "abs.txt")),
    "absolute-etc": lambda s: ([reg("/etc/skillctl-hostile-test", "pwned\n")], "/etc/skillctl-hostile-test"),
    "symlink-out-then-write": lambda s: (
        [Entry("evil-link", tarfile.SYMTYPE, linkname="../../outside"), reg("evil-link/pwned.txt", "pwned\n")],
        "evil-link",
    ),
    "absolute-symlink-then-write": lambda s: (
        [Entry("abs-link", tarfile.SYMTYPE, linkname=str(s.outside)), reg("abs-link/pwned.txt", "pwned\n")],
        "abs-link",
    ),
    "symlink-chain-out": lambda s: (
        [
            Entry("d", tarfile.DIRTYPE, mode=0o755),
            Entry("d/up", tarfile.SYMTYPE, linkname=".."),  # the skill root: allowed by itself
            Entry("d/chain-link", tarfile.SYMTYPE, linkname="up/.."),  # lexically inside, really outside
        ],
        "d/chain-link",
    ),
    "hardlink-out": lambda s: ([Entry("hard-out", tarfile.LNKTYPE, linkname="../../victim.txt")], "hard-out"),
    "hardlink-absolute": lambda s: ([Entry("hard-abs", tarfile.LNKTYPE, linkname=str(s.victim))], "hard-abs"),
    "char-device": lambda s: ([Entry("dev-null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)], "dev-null"),
    "block-device": lambda s: ([Entry("dev-loop", tarfile.BLKTYPE, mode=0o660, devmajor=7, devminor=0)], "dev-loop"),
    "fifo": lambda s: ([Entry("a-fifo", tarfile.FIFOTYPE, mode=0o644)], "a-fifo"),
    "invalid-utf8-name": lambda s: ([reg("bad-utf8-\udcff\udcfe.txt", "x")], "bad-utf8-"),
    "control-char-name": lambda s: ([reg("ctl-\x1b[31mred.txt", "x")], "ctl-"),
    "newline-name": lambda s: ([reg("nl-\nforged.txt", "x")], "nl-"),
    "duplicate-entry": lambda s: ([reg("SKILL.md", "---\nname: other\n---\nreplaced\n")], "SKILL.md"),
    "duplicate-alias": lambda s: ([reg("./scripts/run.sh", "#!/bin/sh\nrm -rf ~\n", 0o755)], "scripts/run.sh"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_hostile_entry_is_refused(kind: str, scene: Scene, registry: Registry) -> None:
    hostile, marker = CASES[kind](scene)
    scene.push(registry, [*base_entries(scene.bad), *hostile])
    etc = Path("/etc/skillctl-hostile-test")
    etc_before = etc.exists()
    try:
        errors = throw(scene, scene.ref, ExitCode.INVALID, marker)
    finally:
        written_to_etc = etc.exists() and not etc_before
        if written_to_etc:
            etc.unlink()
    assert not written_to_etc
    for error in errors:
        assert "\x1b" not in error and "\udcff" not in error  # named, but escaped for the terminal
    assert not (scene.root / "escape.txt").exists()


def test_setuid_setgid_sticky_bits_are_stripped(scene: Scene, registry: Registry) -> None:
    """Accepted: the files arrive, without the special bits (nor group/world write)."""
    entries = [
        *base_entries(scene.bad),
        reg("scripts/suid.sh", "#!/bin/sh\nid\n", 0o4755),
        reg("scripts/sgid.sh", "#!/bin/sh\nid\n", 0o2755),
        reg("scripts/all.sh", "#!/bin/sh\nid\n", 0o7777),
        reg("sticky.txt", "s\n", 0o1644),
        reg("world.txt", "w\n", 0o666),
    ]
    scene.push(registry, entries)
    ref = scene.ref
    expected = {
        "scripts/suid.sh": 0o755,
        "scripts/sgid.sh": 0o755,
        "scripts/all.sh": 0o755,
        "sticky.txt": 0o644,
        "world.txt": 0o644,
        "scripts/run.sh": 0o755,
        "SKILL.md": 0o644,
    }
    assert skillctl(scene.store_path, "pull", ref, "-o", scene.pull_out, NO_TLS).exit_code == 0
    assert skillctl(scene.store_path, "install", ref, "-o", scene.agent_dir, NO_TLS).exit_code == 0
    for root in (scene.pull_out, scene.agent_dir):
        for rel, mode in expected.items():
            assert stat.S_IMODE((root / NAME / rel).stat().st_mode) == mode, (root, rel)
        assert not (root / NAME / "good.txt").exists()
        no_temp_dirs(root)


# -- caps against decompression bombs ---------------------------------------------------------------


def test_too_many_files_with_the_default_cap(scene: Scene, registry: Registry) -> None:
    """20,001 entries against the real default cap, through ``install -o`` over the good version only:
    refusing it means writing 20,000 files first, which takes seconds (pull -o and install -o into empty
    directories meet the same check in test_configured_limits_through_the_library, with a small cap)."""
    entries = [*base_entries(scene.bad), Entry("many", tarfile.DIRTYPE, mode=0o755)]
    entries += [reg(f"many/f{i:05d}", b"") for i in range(DEFAULT.max_files + 1 - len(entries))]
    assert len(entries) == DEFAULT.max_files + 1
    scene.push(registry, entries)
    errors = throw(scene, scene.ref, ExitCode.INVALID, entries[-1].name, into_empty=False)
    assert all(f"more than {DEFAULT.max_files}" in e for e in errors)


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def test_decompression_bomb_over_the_default_size_cap(scene: Scene, registry: Registry) -> None:
    """A complete, valid layer: 513 MiB of zeros in ~2 MB of gzip; refused before a byte of it is written."""
    size = DEFAULT.max_bytes + 1024 * 1024
    bomb = Entry("bomb.bin", size=size, stream=lambda: _Zeros(size))
    layer = scene.push(registry, [*base_entries(scene.bad), bomb])
    assert len(registry.blob(scene.repo, layer)) < 8 * 1024 * 1024
    errors = throw(scene, scene.ref, ExitCode.INVALID, "bomb.bin")
    assert all(f"exceeds {DEFAULT.max_bytes}" in e for e in errors)


@pytest.mark.parametrize("cap", ["files", "bytes"])
def test_configured_limits_through_the_library(cap: str, scene: Scene, registry: Registry) -> None:
    """Small caps passed to pull() and install(): the first entry over the cap is named; nothing is left."""
    base = base_entries(scene.bad)
    if cap == "files":  # the 4 valid entries, then f0..f9: f4 is the 9th entry
        limits, extra, marker = UnpackLimits(max_files=8), [reg(f"f{i}.txt", "x") for i in range(10)], "f4.txt"
    else:  # 400 bytes each on top of the valid files: b2 is the first over the cap
        used = sum(len(e.data) for e in base)
        extra = [reg(f"b{i}.bin", os.urandom(400)) for i in range(5)]
        limits, marker = UnpackLimits(max_bytes=used + 1000), "b2.bin"
    scene.push(registry, [*base, *extra])
    ref = scene.ref
    store = Store(scene.store_path)
    outside_before = scene.outside_state()
    with pytest.raises(UnsafeContentError, match=marker):
        pull(ref, output=scene.pull_out, store=store, opts=OPTS, limits=limits)
    assert not scene.pull_out.exists() or list(scene.pull_out.iterdir()) == []
    with pytest.raises(UnsafeContentError, match=marker):
        install(ref, destinations(None, scene.install_out)[0], store=store, opts=OPTS, limits=limits)
    assert set(snapshot(scene.install_out)) <= BOOKKEEPING
    agent_before = snapshot(scene.agent_dir)
    with pytest.raises(UnsafeContentError, match=marker):
        install(ref, destinations(None, scene.agent_dir)[0], store=store, opts=OPTS, limits=limits)
    assert snapshot(scene.agent_dir) == agent_before
    assert scene.outside_state() == outside_before
    # The same image is fine under the default caps.
    install(ref, destinations(None, scene.agent_dir)[0], store=store, opts=OPTS)
    assert (scene.agent_dir / NAME / extra[-1].name).is_file()


# -- a layer whose bytes do not match its digest ---------------------------------------------------


def test_layer_not_matching_its_digest_is_refused(scene: Scene, registry: Registry) -> None:
    """A valid image is pushed, then its layer blob is corrupted in the registry's storage on disk."""
    layer = scene.push(registry, [*base_entries(scene.bad, secrets.token_hex(8))])
    hexdigest = layer.split(":", 1)[1]
    blobs = registry.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    data = blobs / hexdigest[:2] / hexdigest / "data"
    assert data.is_file(), f"no blob at {data}"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, different bytes
    data.write_bytes(bytes(raw))
    assert sha256(registry.blob(scene.repo, layer)) != layer  # the registry now serves the corrupt bytes
    throw(scene, scene.ref, ExitCode.INTEGRITY, hexdigest[:12])
