"""Air gaps on two real registries: ``mirror`` registry to registry, ``save`` to a bundle, ``load`` on the far side.

The near side is the session ``registry``; the far side is a second CNCF distribution registry started
for this module. Skills are signed with a skillctl key pair and taken through the lifecycle on the
near side with the library (pack, push, promote, sign); the commands under test run through the CLI.
What each registry holds is read over HTTP (``tests/registry.py``); "digests intact" means the far
registry serves the very manifest bytes the near one does, and "signatures intact" means both
``skillctl verify`` and ``cosign verify`` accept them on the far side.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_helpers import assert_error
from click.testing import CliRunner, Result
from registry import Registry, need_tool, start_registry, unique_skill

from skillctl import Store, pack
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core.refs import is_attachment_tag, parse_reference
from skillctl.lifecycle.promote import promote
from skillctl.registry import transfer
from skillctl.registry.selection import load as load_backend
from skillctl.trust.signing import generate_key_pair, sign

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
PASSWORD = b"mirror-test-pw"


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def far(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The registry on the other side of the gap."""
    need_tool("docker-registry")
    reg = start_registry(tmp_path_factory.mktemp("far-registry"))
    yield reg
    reg.stop()


@dataclass(frozen=True)
class Key:
    private: Path
    public: Path


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Key:
    return Key(*generate_key_pair(tmp_path_factory.mktemp("mirror-key"), PASSWORD))


@dataclass
class Skill:
    repo: str
    digests: dict[str, str] = field(default_factory=dict)  # tag -> digest, as pushed and promoted

    def ref(self, tag: str) -> str:
        return f"{self.repo}:{tag}"


def _sign(ref: str, key: Key) -> None:
    sign(ref, key.private, PASSWORD, opts=OPTS)


def publish_skill(
    reg: Registry, work: Path, key: Key | None, *, name: str = "demo", version: str = "1.0.0", to: str = "draft"
) -> Skill:
    """A fresh skill pushed as ``<version>-draft`` and promoted up to ``to``, every state signed when ``key``."""
    store = Store(work / f"producer-{name}-{version}")
    image = pack(unique_skill(work / f"src-{name}-{version}", name, version=version), store=store)
    skill = Skill(reg.repo(name))
    draft = skill.ref(f"{version}-draft")
    skill.digests[f"{version}-draft"] = transfer.push(image.ref, draft, store=store, backend="skopeo", opts=OPTS).digest
    if key:
        _sign(draft, key)
    current = draft
    for state, tag in (("testing", f"{version}-testing"), ("published", version)):
        if to == "draft" or (to == "testing" and state == "published"):
            break
        result = promote(current, state, opts=OPTS)
        skill.digests.update(result.tags)
        current = skill.ref(tag)
        if key:
            _sign(current, key)
    return skill


@pytest.fixture(scope="module")
def released(registry: Registry, key: Key, tmp_path_factory: pytest.TempPathFactory) -> Skill:
    """A signed skill at 1.0.0: tags 1.0.0-draft, 1.0.0-testing, 1.0.0 and latest, and three signatures."""
    return publish_skill(registry, tmp_path_factory.mktemp("released"), key, to="published")


# -- helpers -------------------------------------------------------------------------------------
def cli_run(store: Path, *args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)], env=env)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def far_repo(src_repo: str, dest: str) -> str:
    """Where ``mirror``/``load --push`` put ``HOST/path``: ``DEST/path``."""
    return f"{dest}/{src_repo.partition('/')[2]}"


def snapshot(reg: Registry, repo: str) -> dict[str, str | None]:
    return {tag: reg.digest(f"{repo}:{tag}") for tag in reg.tags(repo)}


def raw_manifests(reg: Registry, repo: str) -> dict[str, bytes | None]:
    return {tag: reg.manifest(f"{repo}:{tag}") for tag in reg.tags(repo)}


def sig_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def cosign_verify(ref: str, key: Key) -> list[str]:
    """The digests cosign's verified payloads name; fails the test if cosign refuses."""
    done = subprocess.run(
        [need_tool("cosign"), "verify", "--key", str(key.public), "--insecure-ignore-tlog=true",
         "--allow-insecure-registry", ref],
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"]},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (ref, done.stderr)
    return [p["critical"]["image"]["docker-manifest-digest"] for p in json.loads(done.stdout)]


def verify_far(store: Path, ref: str, key: Key, digest: str) -> None:
    """skillctl and cosign both accept the signature of ``ref`` (which must be ``digest``)."""
    result = json.loads(ok(cli_run(store, "verify", ref, "--key", key.public, NO_TLS, "--format", "json")).stdout)
    assert result["digest"] == digest and result["verified"] >= 1
    assert cosign_verify(ref, key) == [digest]


def mirror_json(store: Path, *args: object) -> list[dict[str, str]]:
    return json.loads(ok(cli_run(store, "mirror", *args, NO_TLS, "--format", "json")).stdout)


def bundle_names(bundle: Path) -> list[str]:
    with tarfile.open(bundle) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    return [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]


def rewrite_bundle(src: Path, dest: Path, change, extra: list[tuple[tarfile.TarInfo, bytes | None]] = ()) -> None:  # type: ignore[assignment,no-untyped-def]
    """Copy a bundle entry by entry, passing each (info, data) through ``change``; then append ``extra``."""
    with tarfile.open(src) as old, tarfile.open(dest, "w") as new:
        for info in old:
            data = old.extractfile(info).read() if info.isreg() else None  # type: ignore[union-attr]
            info, data = change(info, data)
            new.addfile(info, io.BytesIO(data) if data is not None else None)
        for info, data in extra:
            new.addfile(info, io.BytesIO(data) if data is not None else None)


# -- mirror --------------------------------------------------------------------------------------
def test_mirror_copies_every_tag_and_signature_with_digests_intact(
    registry: Registry, far: Registry, released: Skill, key: Key, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    near = snapshot(registry, released.repo)
    assert sorted(t for t in near if not is_attachment_tag(t)) == ["1.0.0", "1.0.0-draft", "1.0.0-testing", "latest"]
    assert sorted(t for t in near if is_attachment_tag(t)) == sorted(
        sig_tag(released.digests[t]) for t in ("1.0.0-draft", "1.0.0-testing", "1.0.0")
    )
    dest = f"{far.host}/m1"
    dest_repo = far_repo(released.repo, dest)

    items = mirror_json(store, released.repo, dest)
    assert sorted(i["dest"] for i in items) == sorted(f"{dest_repo}:{t}" for t in near)
    assert {i["action"] for i in items} == {"copied"}
    assert {i["dest"].rsplit(":", 1)[1]: i["digest"] for i in items} == near

    # Byte for byte: every tag, signatures included.
    assert raw_manifests(far, dest_repo) == raw_manifests(registry, released.repo)
    for tag in ("1.0.0-draft", "1.0.0-testing", "1.0.0", "latest"):
        verify_far(store, f"{dest_repo}:{tag}", key, near[tag])  # type: ignore[arg-type]
    # The far side is usable on its own: a verified install from it.
    out = tmp_path / "skills"
    ok(cli_run(tmp_path / "consumer", "install", f"{dest_repo}:1.0.0", "--verify-key", key.public, "-o", out, NO_TLS))
    assert (out / "demo" / "skill.yaml").is_file()

    # Again: nothing to copy.
    again = ok(cli_run(store, "mirror", released.repo, dest, NO_TLS))
    assert "Copied" not in again.stdout
    assert f"0 copied, {len(near)} already there, 0 failed." in again.stdout
    assert {i["action"] for i in mirror_json(store, released.repo, dest)} == {"skipped"}
    assert snapshot(far, dest_repo) == near


def test_mirror_is_incremental(registry: Registry, far: Registry, key: Key, tmp_path: Path) -> None:
    skill = publish_skill(registry, tmp_path, key)
    store = tmp_path / "store"
    dest = f"{far.host}/m2"
    assert {i["action"] for i in mirror_json(store, skill.repo, dest)} == {"copied"}

    # A new draft and its signature on the near side: exactly those two are copied.
    producer = Store(tmp_path / "producer-2")
    image = pack(unique_skill(tmp_path / "src-2", "demo", version="2.0.0"), store=producer)
    new_digest = transfer.push(image.ref, skill.ref("2.0.0-draft"), store=producer, backend="skopeo", opts=OPTS).digest
    _sign(skill.ref("2.0.0-draft"), key)
    items = mirror_json(store, skill.repo, dest)
    copied = sorted(i["dest"].rsplit(":", 1)[1] for i in items if i["action"] == "copied")
    assert copied == sorted(["2.0.0-draft", sig_tag(new_digest)])
    assert sum(i["action"] == "skipped" for i in items) == 2
    assert snapshot(far, far_repo(skill.repo, dest)) == snapshot(registry, skill.repo)

    # A tag moved on the near side (re-pushed) is copied again; the unchanged ones are not.
    image3 = pack(unique_skill(tmp_path / "src-3", "demo", version="2.0.0"), store=producer)
    moved = transfer.push(image3.ref, skill.ref("2.0.0-draft"), store=producer, backend="skopeo", opts=OPTS).digest
    items = mirror_json(store, skill.repo, dest)
    assert [(i["dest"].rsplit(":", 1)[1], i["digest"]) for i in items if i["action"] == "copied"] == [
        ("2.0.0-draft", moved)
    ]
    assert far.digest(f"{far_repo(skill.repo, dest)}:2.0.0-draft") == moved


def test_parallel_copies_never_touch_a_shared_blob_at_once(
    registry: Registry, far: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lifecycle tags share their config and layer; copying them into one repository at the same time races
    in CNCF distribution (it rewrites a repository's blob link files in place: a parallel HEAD reads a
    half-written link and gets HTTP 500 "invalid checksum digest format"). Copies that share a blob must
    run one after the other; copies of unrelated content must still run in parallel.

    Every copy is held open for a moment so that any overlap the scheduling allows does happen.
    """
    from skillctl.registry.selection import load

    skill = publish_skill(registry, tmp_path, None, to="published")  # 4 tags, 3 manifests, 1 config + 1 layer
    producer = Store(tmp_path / "producer-2")
    image = pack(unique_skill(tmp_path / "src-2", "demo", version="2.0.0"), store=producer)
    transfer.push(image.ref, skill.ref("2.0.0-draft"), store=producer, backend="skopeo", opts=OPTS)
    for i in range(3):  # more tags on the same manifests
        transfer.push(image.ref, skill.ref(f"2.0.0-extra{i}"), store=producer, backend="skopeo", opts=OPTS)

    backend_cls = type(load("skopeo"))
    real_copy = backend_cls.copy
    guard = threading.Lock()
    active: list[tuple[str, frozenset[str], str]] = []
    overlaps: list[tuple[str, str]] = []
    most = 0

    def probe(self, src, dest, opts):  # type: ignore[no-untyped-def]
        nonlocal most
        raw = json.loads(registry.manifest(str(src)) or b"{}")
        blobs = frozenset([src.digest, raw["config"]["digest"], *(layer["digest"] for layer in raw["layers"])])
        mine = (dest.repository, blobs, str(dest))

        with guard:
            overlaps.extend((str(dest), other[2]) for other in active if other[0] == mine[0] and other[1] & blobs)
            active.append(mine)
            most = max(most, len(active))
        try:
            time.sleep(0.3)
            return real_copy(self, src, dest, opts)
        finally:
            with guard:
                active.remove(mine)

    monkeypatch.setattr(backend_cls, "copy", probe)
    dest = f"{far.host}/parallel"
    items = mirror_json(tmp_path / "store", skill.repo, dest, "-j", "8", "--backend", "skopeo")
    assert [i for i in items if i["action"] != "copied"] == []
    assert overlaps == []
    assert most >= 2  # the two versions share nothing: they were copied side by side
    assert snapshot(far, far_repo(skill.repo, dest)) == snapshot(registry, skill.repo)


def test_mirror_archived_copies_signed_digest_only_manifests(
    registry: Registry, far: Registry, key: Key, tmp_path: Path
) -> None:
    skill = publish_skill(registry, tmp_path, None, to="published")
    _sign(skill.ref("1.0.0-draft"), key)
    for state in ("deprecated", "archived"):
        result = promote(skill.ref("1.0.0"), state, opts=OPTS)
    archived = result.digest
    assert "1.0.0" not in registry.tags(skill.repo)
    by_digest = f"{skill.repo}@{archived}"
    _sign(by_digest, key)
    store = tmp_path / "store"
    dest = f"{far.host}/m3"
    dest_repo = far_repo(skill.repo, dest)

    items = mirror_json(store, skill.repo, dest)
    assert far.digest(f"{dest_repo}@{archived}") is None  # not asked for
    assert all("@" not in i["dest"] for i in items)
    assert snapshot(far, dest_repo) == snapshot(registry, skill.repo)

    items = mirror_json(store, skill.repo, dest, "--archived")
    copied = [i for i in items if i["action"] == "copied"]
    assert [(i["dest"], i["digest"]) for i in copied] == [(f"{dest_repo}@{archived}", archived)]
    assert far.manifest(f"{dest_repo}@{archived}") == registry.manifest(by_digest)
    assert far.manifest_json(f"{dest_repo}@{archived}")["annotations"]["io.skillimage.status"] == "archived"
    verify_far(store, f"{dest_repo}@{archived}", key, archived)
    verify_far(store, f"{dest_repo}:1.0.0-draft", key, skill.digests["1.0.0-draft"])

    # Incremental for archived manifests too: found by digest, not copied again.
    again = ok(cli_run(store, "mirror", skill.repo, dest, "--archived", NO_TLS))
    assert "Copied" not in again.stdout
    assert "0 copied" in again.stdout


def test_mirror_from_a_file_of_repositories(registry: Registry, far: Registry, key: Key, tmp_path: Path) -> None:
    first = publish_skill(registry, tmp_path / "a", key, name="alpha")
    second = publish_skill(registry, tmp_path / "b", key, name="beta", to="testing")
    listing = tmp_path / "repos.txt"
    listing.write_text(f"# skills to carry over\n{first.repo}\n\n  {second.repo}  \n")
    store = tmp_path / "store"
    dest = f"{far.host}/m4"

    result = ok(cli_run(store, "mirror", "-f", listing, dest, NO_TLS))
    # alpha: its draft and one signature; beta: draft, testing and two signatures.
    assert "6 copied, 0 already there, 0 failed." in result.stdout
    for skill in (first, second):
        assert snapshot(far, far_repo(skill.repo, dest)) == snapshot(registry, skill.repo)
    verify_far(store, f"{far_repo(second.repo, dest)}:1.0.0-testing", key, second.digests["1.0.0-testing"])


def test_mirror_a_whole_namespace(registry: Registry, far: Registry, key: Key, tmp_path: Path) -> None:
    first = publish_skill(registry, tmp_path / "a", key, name="alpha", to="testing")
    namespace = first.repo.rsplit("/", 1)[0]
    sibling = f"{namespace}/gamma"
    copier = load_backend("skopeo")
    copier.copy(parse_reference(f"{first.repo}:1.0.0-draft"), parse_reference(f"{sibling}:1.0.0-draft"), OPTS)
    elsewhere = publish_skill(registry, tmp_path / "b", None, name="delta")  # another namespace: left alone
    store = tmp_path / "store"
    dest = f"{far.host}/m6"

    copied = mirror_json(store, f"{namespace}/*", dest, NO_TLS)
    assert {item["dest"].rsplit(":", 1)[0] for item in copied} == {far_repo(first.repo, dest), far_repo(sibling, dest)}
    assert snapshot(far, far_repo(first.repo, dest)) == snapshot(registry, first.repo)
    assert snapshot(far, far_repo(sibling, dest)) == snapshot(registry, sibling)
    assert far.tags(far_repo(elsewhere.repo, dest)) == []
    again = ok(cli_run(store, "mirror", f"{namespace}/", dest, NO_TLS))  # a trailing slash means the same
    assert "0 copied" in again.stdout and "0 failed" in again.stdout


def test_mirror_of_a_missing_repository_fails(registry: Registry, far: Registry, tmp_path: Path) -> None:
    missing = registry.repo("nothing-here")
    result = cli_run(tmp_path / "store", "mirror", missing, f"{far.host}/m5", NO_TLS)
    assert_error(result, 4, "no tags to mirror", hint=False)
    usage = cli_run(tmp_path / "store", "mirror", f"{far.host}/m5", NO_TLS)
    assert_error(usage, 2, "destination", hint=False)


# -- save and load -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def second(registry: Registry, key: Key, tmp_path_factory: pytest.TempPathFactory) -> Skill:
    """Another signed skill, at 2.0.0-draft."""
    return publish_skill(registry, tmp_path_factory.mktemp("second"), key, name="other", version="2.0.0")


@pytest.fixture(scope="module")
def bundles(registry: Registry, released: Skill, second: Skill, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``picked.tar``: two chosen tags; ``all.tar``: every tag of both repositories (with --all-tags)."""
    work = tmp_path_factory.mktemp("bundles")
    made = {}
    for name, args in (
        ("picked", [released.ref("1.0.0"), second.ref("2.0.0-draft")]),
        ("all", [released.repo, second.repo, "--all-tags"]),
    ):
        path = work / f"{name}.tar"
        out = json.loads(
            ok(cli_run(work / f"store-{name}", "save", *args, "-o", path, NO_TLS, "--format", "json")).stdout
        )
        assert out["output"] == str(path)
        made[name] = (path, out["refs"])
    return made


def test_save_writes_the_chosen_tags_and_their_signatures(
    registry: Registry, released: Skill, second: Skill, bundles: dict
) -> None:
    path, names = bundles["picked"]
    expected = [
        released.ref("1.0.0"),
        released.ref(sig_tag(released.digests["1.0.0"])),
        second.ref("2.0.0-draft"),
        second.ref(sig_tag(second.digests["2.0.0-draft"])),
    ]
    assert names == expected
    assert bundle_names(path) == expected
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert {m.name for m in members if not m.name.startswith("blobs/sha256/")} == {"oci-layout", "index.json"}
        assert all(m.isreg() and m.mtime == 0 for m in members)
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    digests = {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"] for m in index["manifests"]}
    assert digests == {name: registry.digest(name) for name in expected}


def test_save_all_tags(registry: Registry, released: Skill, second: Skill, bundles: dict) -> None:
    _, names = bundles["all"]
    expected = set()
    for skill in (released, second):
        expected |= {skill.ref(t) for t in registry.tags(skill.repo)}
    assert set(names) == expected  # every version tag, and the signature of each digest
    assert len(names) == len(set(names))


def test_save_without_signatures(registry: Registry, released: Skill, tmp_path: Path) -> None:
    path = tmp_path / "nosig.tar"
    ok(cli_run(tmp_path / "store", "save", released.repo, "--all-tags", "--no-signatures", "-o", path, NO_TLS))
    assert sorted(bundle_names(path)) == sorted(
        released.ref(t) for t in ("1.0.0", "1.0.0-draft", "1.0.0-testing", "latest")
    )


def test_load_push_maps_repositories_under_the_far_registry(
    registry: Registry, far: Registry, released: Skill, second: Skill, key: Key, bundles: dict, tmp_path: Path
) -> None:
    path, names = bundles["all"]
    dest = f"{far.host}/other/prefix"
    store = tmp_path / "store"
    loaded = json.loads(ok(cli_run(store, "load", path, "--push", dest, NO_TLS, "--format", "json")).stdout)
    assert [item["ref"] for item in loaded] == names
    for item in loaded:
        # HOST/org/x:1.0.0 -> OTHER/prefix/org/x:1.0.0, same digest as the near registry holds.
        host, _, rest = item["ref"].partition("/")
        assert host == registry.host
        assert item["dest"] == f"{dest}/{rest}"
        assert item["digest"] == registry.digest(item["ref"]) == far.digest(item["dest"])
        assert far.manifest(item["dest"]) == registry.manifest(item["ref"])
    for skill in (released, second):
        assert snapshot(far, far_repo(skill.repo, dest)) == snapshot(registry, skill.repo)
    verify_far(store, f"{far_repo(released.repo, dest)}:1.0.0", key, released.digests["1.0.0"])
    verify_far(store, f"{far_repo(released.repo, dest)}:latest", key, released.digests["1.0.0"])
    verify_far(store, f"{far_repo(second.repo, dest)}:2.0.0-draft", key, second.digests["2.0.0-draft"])


def test_load_into_a_fresh_store(registry: Registry, released: Skill, bundles: dict, tmp_path: Path) -> None:
    path, names = bundles["picked"]
    store = tmp_path / "fresh-store"
    ok(cli_run(store, "load", path))
    images = [n for n in names if not is_attachment_tag(n.rsplit(":", 1)[1])]
    assert sorted(ok(cli_run(store, "list", "-q")).stdout.split()) == sorted(images)  # signatures are not listed
    rows = json.loads(ok(cli_run(store, "list", "--format", "json")).stdout)
    assert all(r["signed"] for r in rows), rows
    inspected = json.loads(ok(cli_run(store, "inspect", released.ref("1.0.0"), "--format", "json")).stdout)
    assert inspected["digest"] == released.digests["1.0.0"]
    # What was loaded is whole: it unpacks (under a local name, so nothing comes from a registry).
    ok(cli_run(store, "tag", released.ref("1.0.0"), "local/demo:1.0.0"))
    out = tmp_path / "skills"
    ok(cli_run(store, "install", "local/demo:1.0.0", "-o", out))
    assert (out / "demo" / "SKILL.md").is_file()


def _member(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, target: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


HEX = "ab" * 32


@pytest.mark.parametrize(
    "evil",
    [
        _member("../escaped"),
        _member("/tmp/skillctl-absolute-escape"),
        _member("blobs/sha256/../../escaped"),
        _member("blobs/sha256/" + HEX, kind=tarfile.SYMTYPE, target="/etc/passwd"),
        _member("blobs/sha256/" + HEX, kind=tarfile.LNKTYPE, target="index.json"),
        _member("blobs/sha256/" + HEX, kind=tarfile.CHRTYPE),
        _member("extra/file"),
    ],
    ids=["dotdot", "absolute", "inner-dotdot", "symlink", "hardlink", "device", "unknown-path"],
)
def test_bundle_with_a_bad_entry_is_refused_and_loads_nothing(
    far: Registry, released: Skill, bundles: dict, tmp_path: Path, evil: tuple
) -> None:
    path, _ = bundles["picked"]
    bad = tmp_path / "work" / "bad.tar"
    bad.parent.mkdir()
    rewrite_bundle(path, bad, lambda info, data: (info, data), extra=[evil])  # the bad entry comes last
    store = tmp_path / "store"
    for extra in ([], ["--push", f"{far.host}/bad"]):
        result = cli_run(store, "load", bad, *extra, NO_TLS)
        assert_error(result, 3, "unexpected entry", hint=False)
        assert ok(cli_run(store, "list", "-q")).stdout == ""
    assert far.tags(far_repo(released.repo, f"{far.host}/bad")) == []
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "work" / "escaped").exists()
    assert not Path("/tmp/skillctl-absolute-escape").exists()


def test_bundle_with_a_corrupted_blob_is_refused_and_loads_nothing(
    far: Registry, released: Skill, bundles: dict, tmp_path: Path
) -> None:
    path, _ = bundles["picked"]
    with tarfile.open(path) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        first = index["manifests"][0]["digest"]
        manifest = json.loads(tar.extractfile(f"blobs/sha256/{first[7:]}").read())  # type: ignore[union-attr]
    layer = manifest["layers"][0]["digest"]

    def flip(info: tarfile.TarInfo, data: bytes | None):  # type: ignore[no-untyped-def]
        if info.name == f"blobs/sha256/{layer[7:]}":
            assert data is not None
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        return info, data

    bad = tmp_path / "corrupt.tar"
    rewrite_bundle(path, bad, flip)
    store = tmp_path / "store"
    for extra in ([], ["--push", f"{far.host}/corrupt"]):
        result = cli_run(store, "load", bad, *extra, NO_TLS)
        assert_error(result, 10, layer, hint=False)
        assert ok(cli_run(store, "list", "-q")).stdout == ""
    assert far.tags(far_repo(released.repo, f"{far.host}/corrupt")) == []


def test_bundle_missing_a_blob_is_refused_and_loads_nothing(
    far: Registry, released: Skill, second: Skill, bundles: dict, tmp_path: Path
) -> None:
    """The last image's layer left out: the images before it must not be loaded either."""
    path, names = bundles["picked"]
    with tarfile.open(path) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        last = next(m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == names[2])
        manifest = json.loads(tar.extractfile(f"blobs/sha256/{last['digest'][7:]}").read())  # type: ignore[union-attr]
    layer = manifest["layers"][0]["digest"]
    bad = tmp_path / "missing.tar"
    with tarfile.open(path) as old, tarfile.open(bad, "w") as new:
        for info in old:
            if info.name != f"blobs/sha256/{layer[7:]}":
                new.addfile(info, old.extractfile(info))
    store = tmp_path / "store"
    for extra in ([], ["--push", f"{far.host}/missing"]):
        result = cli_run(store, "load", bad, *extra, NO_TLS)
        assert result.exit_code in (3, 4, 10), (result.exit_code, result.stderr)
        assert "Traceback" not in result.stderr
        assert layer in result.stderr
        assert ok(cli_run(store, "list", "-q")).stdout == ""
    for skill in (released, second):
        assert far.tags(far_repo(skill.repo, f"{far.host}/missing")) == []


def test_bundle_with_a_path_as_a_digest_is_refused(tmp_path: Path) -> None:
    """A manifest (hashed correctly) whose layer "digest" is a path out of the bundle."""
    config = b"{}"
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:../../../../../../etc/hostname",
                    "size": 10,
                }
            ],
        }
    ).encode()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "quay.io/org/evil:1.0.0"},
            }
        ],
    }
    bad = tmp_path / "evil.tar"
    with tarfile.open(bad, "w") as tar:
        for name, data in (
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            ("index.json", json.dumps(index).encode()),
            (f"blobs/sha256/{config_digest[7:]}", config),
            (f"blobs/sha256/{digest[7:]}", manifest),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    store = tmp_path / "store"
    assert_error(cli_run(store, "load", bad), 3, "not a sha256 digest", hint=False)
    assert ok(cli_run(store, "list", "-q")).stdout == ""


def test_save_archived_carries_archived_versions_across(
    registry: Registry, far: Registry, key: Key, tmp_path: Path
) -> None:
    skill = publish_skill(registry, tmp_path, key, to="published")
    for state in ("deprecated", "archived"):
        result = promote(skill.ref("1.0.0"), state, opts=OPTS)
    archived = result.digest
    _sign(f"{skill.repo}@{archived}", key)
    store = tmp_path / "store"
    plain, with_archived = tmp_path / "plain.tar", tmp_path / "archived.tar"
    ok(cli_run(store, "save", skill.repo, "--all-tags", "-o", plain, NO_TLS))
    assert f"{skill.repo}@{archived}" not in bundle_names(plain)
    ok(cli_run(store, "save", skill.repo, "--all-tags", "--archived", "-o", with_archived, NO_TLS))
    names = bundle_names(with_archived)
    assert f"{skill.repo}@{archived}" in names and skill.ref(sig_tag(archived)) in names

    dest = f"{far.host}/carried"
    pushed = json.loads(ok(cli_run(store, "load", with_archived, "--push", dest, NO_TLS, "--format", "json")).stdout)
    far_ref = f"{far_repo(skill.repo, dest)}@{archived}"
    assert far_ref in [item["dest"] for item in pushed]
    assert far.manifest(far_ref) == registry.manifest(f"{skill.repo}@{archived}")
    verify_far(store, far_ref, key, archived)
    rows = json.loads(ok(cli_run(store, "list", far_repo(skill.repo, dest), "-a", NO_TLS, "--format", "json")).stdout)
    assert [(r["digest"], r["status"]) for r in rows if r["tag"] is None] == [(archived, "archived")]
