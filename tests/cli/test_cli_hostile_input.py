"""Hostile local input: file names, special files, references with a newline, bundles, damaged stores.

What a user, a pull request or a bundle from elsewhere can hand skillctl on this machine. Each case ends
with one ``Error:`` line and a documented exit code (or works, saying what it did), never a hang, a crash
(exit 70) or a write that should not happen.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
from cli_helpers import assert_error, ok_json, tags
from helpers import make_skill

from skillctl import Store
from skillctl.image.unpack import unpack_manifest

EXAMPLE_HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello-world"

# -- 13: one set of name rules for pack and unpack ------------------------------------------------------

BAD_NAMES = {
    "escape": "colour-\x1b[31mred.txt",
    "newline": "two\nlines.txt",
    "c1-control": "csi-\x9b2J.txt",
    "invalid-utf8": os.fsdecode(b"latin1-\xe9.txt"),
}


@pytest.mark.parametrize("kind", sorted(BAD_NAMES))
def test_validate_and_pack_refuse_names_no_unpack_accepts(kind: str, run, tmp_path: Path) -> None:
    skill = make_skill(tmp_path / "skill", name="skill")
    name = BAD_NAMES[kind]
    (skill / "docs").mkdir()
    (skill / "docs" / name).write_bytes(b"x")
    for args in (["validate", skill], ["validate", "--strict", skill], ["pack", skill]):
        result = run(*args)
        line = assert_error(result, 3)
        assert "docs/" in result.stderr, result.stderr
        assert "\x1b" not in result.stderr and "\x9b" not in result.stderr and "\udce9" not in result.stderr
        assert line.startswith("Error:")
    assert tags(run) == []


def test_names_pack_accepts_unpack_accepts(run, tmp_path: Path, store_path: Path) -> None:
    """The other direction: what packs (non-ASCII letters, spaces, brackets) unpacks unchanged."""
    names = ["café.txt", "with space.md", "[brackets].txt", "日本語.txt", "ümlaut-ß.txt"]
    skill = make_skill(tmp_path / "skill", name="skill", files={f"docs/{n}": n for n in names})
    result = run("pack", skill, "--format", "json")
    packed = ok_json(result)
    store = Store(store_path)
    unpack_manifest(store, store.manifest(packed["digest"]), tmp_path / "out" / "skill")
    assert sorted(p.name for p in (tmp_path / "out" / "skill" / "docs").iterdir()) == sorted(names)


def test_an_ignored_file_with_a_bad_name_does_not_matter(run, tmp_path: Path) -> None:
    skill = make_skill(tmp_path / "skill", name="skill", files={".skillignore": "scratch/\n"})
    (skill / "scratch").mkdir()
    (skill / "scratch" / "bad\x1bname").write_text("x")
    (skill / ".hidden\nname").write_text("x")
    assert run("validate", "--strict", skill).exit_code == 0
    assert run("pack", skill).exit_code == 0


# -- 18: a reference with a trailing newline --------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["ns/evil\n:1", "ns/evil:1\n0", "reg.example/ns/x\n:1.0.0", "ns/x:1.0.0\n@sha256:" + "a" * 64]
)
def test_references_with_a_newline_are_refused(bad: str, run, packed, tmp_path: Path) -> None:
    assert_error(run("tag", packed["ref"], bad), 2, "invalid")
    assert_error(run("install", bad, "-o", tmp_path / "skills"), 2, "invalid")
    assert_error(run("kube", "reg.example/" + bad.split("/", 1)[-1], "--no-pin", "--kind", "patch"), 2, "invalid")
    assert not (tmp_path / "skills").exists() or list((tmp_path / "skills").iterdir()) in (
        [],
        [tmp_path / "skills" / ".skillimage"],
    )
    assert not any("\n" in t for t in tags(run))


def test_a_skill_name_with_a_trailing_newline_is_invalid(run, tmp_path: Path) -> None:
    skill = make_skill(tmp_path / "skill", name="skill")
    card = (skill / "skill.yaml").read_text().replace("  name: skill\n", '  name: "skill\\n"\n')
    (skill / "skill.yaml").write_text(card)
    result = run("validate", skill)
    assert_error(result, 3, "metadata.name")


# -- 12: special files as inputs ---------------------------------------------------------------------------


def skillctl_process(store: Path, *args: object, env: dict[str, str] | None = None, timeout: float = 30):
    """The installed console script in its own process: a hang fails the test instead of stopping the suite."""
    exe = shutil.which("skillctl", path=str(Path(sys.executable).parent)) or "skillctl"
    return subprocess.run(
        [exe, "--store", str(store), *(str(a) for a in args)],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "a-fifo"
    os.mkfifo(path)
    return path


def one_error(done: subprocess.CompletedProcess[str], code: int, fragment: str = "") -> None:
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert done.stderr.count("Error:") == 1, done.stderr
    assert fragment in done.stderr, done.stderr


def test_a_fifo_skill_yaml_does_not_hang_validate_or_pack(store_path: Path, tmp_path: Path) -> None:
    skill = make_skill(tmp_path / "skill", name="skill")
    (skill / "skill.yaml").unlink()
    os.mkfifo(skill / "skill.yaml")
    one_error(skillctl_process(store_path, "validate", skill), 3, "fifo")
    one_error(skillctl_process(store_path, "pack", skill), 3, "fifo")


def test_a_fifo_skillignore_does_not_hang_pack(store_path: Path, tmp_path: Path) -> None:
    skill = make_skill(tmp_path / "skill", name="skill")
    os.mkfifo(skill / ".skillignore")
    one_error(skillctl_process(store_path, "pack", skill), 3, "fifo")


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_given_as_inputs_are_refused(special: str, fifo: Path, store_path: Path, tmp_path: Path) -> None:
    path = fifo if special == "fifo" else Path(special)
    ref = "127.0.0.1:1/ns/skill:1.0.0"
    env = {"COSIGN_PASSWORD": "pw"}
    cases = [
        (["load", path], 2),
        (["collection", "generate", "-f", path, "--kind", "patch"], 3),
        (["verify", ref, "--key", path], 2),
        (["sign", ref, "--key", path], 2),
        (["keygen", "--output-dir", tmp_path / "keys", "--passphrase-file", path], 2),
        (["mirror", "-f", path, "127.0.0.1:1/m"], 2),
        (["inspect", "--remote", ref, "--authfile", path], 2),
    ]
    for args, code in cases:
        one_error(
            skillctl_process(store_path, *args, env=env),
            code,
            "not a regular file" if code != 2 or args[0] != "inspect" else "regular file",
        )
    assert not (tmp_path / "keys").exists()


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_given_to_newer_options_are_refused(
    special: str, fifo: Path, store_path: Path, tmp_path: Path
) -> None:
    """Signature policies, trusted roots, lock files: read only as regular files, before any registry is asked."""
    path = fifo if special == "fifo" else Path(special)
    ref = "127.0.0.1:1/ns/skill:1.0.0"
    keyless = ["--certificate-identity", "a@example.com", "--certificate-oidc-issuer", "https://issuer.example"]
    cases = [
        (["pull", ref, "--signature-policy", path], 2, "not a regular file"),
        (["install", ref, "-o", tmp_path / "out", "--signature-policy", path], 2, "not a regular file"),
        (["mirror", ref.rsplit(":", 1)[0], "127.0.0.1:1/m", "--signature-policy", path], 2, "not a regular file"),
        (["verify", ref, *keyless, "--trusted-root", path], 2, "not a regular file"),
        (["kube", "--lock", path, "--kind", "patch"], 3, "not a regular file"),
    ]
    for args, code, fragment in cases:
        one_error(skillctl_process(store_path, *args), code, fragment)
    assert not (tmp_path / "out").exists()


def test_a_fifo_project_or_lock_file_is_refused_not_replaced(store_path: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    os.mkfifo(project / "skills.yaml")
    for args in (["sync"], ["outdated"], ["add", "127.0.0.1:1/ns/skill:1.0.0", "-o", "skills"]):
        one_error(skillctl_process(store_path, *args, "--project", project), 3, "fifo")
    assert (project / "skills.yaml").is_fifo()
    (project / "skills.yaml").unlink()
    (project / "skills.yaml").write_text("apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: ./s\n")
    os.mkfifo(project / "skills.lock.yaml")
    one_error(skillctl_process(store_path, "sync", "--project", project), 3, "fifo")
    assert (project / "skills.lock.yaml").is_fifo()


# -- 10: bundles name their images; the names are references ----------------------------------------------


def rewrite_bundle(bundle: Path, out: Path, index: bytes | None) -> Path:
    """``bundle`` with its index.json replaced by ``index`` (None: left out)."""
    with tarfile.open(bundle) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src:
            if member.name.removeprefix("./") == "index.json":
                if index is not None:
                    info = tarfile.TarInfo("index.json")
                    info.size = len(index)
                    dst.addfile(info, io.BytesIO(index))
                continue
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
    return out


@pytest.fixture
def bundle(run, packed, tmp_path: Path) -> tuple[Path, dict]:
    """A bundle of the packed example, and its index.json."""
    path = tmp_path / "bundle.tar"
    assert run("save", packed["ref"], "-o", path).exit_code == 0
    with tarfile.open(path) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    run("rm", "-f", packed["ref"])
    return path, index


@pytest.mark.parametrize(
    "name",
    ["../../../etc/x:1.0.0", "ns/x\x1b[2J:1.0.0", "ns/x\n:1.0.0", "ns/x", " ns/x:1.0.0", "NS/X:1.0.0", 5, ""],
)
def test_a_bundle_name_that_is_not_a_reference_loads_nothing(name, run, bundle, tmp_path: Path) -> None:
    path, index = bundle
    good = index["manifests"][0]
    index["manifests"] = [good, {**good, "annotations": {"org.opencontainers.image.ref.name": name}}]
    hostile = rewrite_bundle(path, tmp_path / "hostile.tar", json.dumps(index).encode())
    result = run("load", hostile)
    line = assert_error(result, 3, "entry 1")
    assert "\x1b" not in result.stderr and "\n" not in line
    assert tags(run) == []


@pytest.mark.parametrize(
    "index",
    [None, b"not json", b"[]", b'{"manifests": {}}', b'{"manifests": [5]}', b'{"manifests": [{"annotations": []}]}'],
)
def test_a_malformed_bundle_index_is_refused(index: bytes | None, run, bundle, tmp_path: Path) -> None:
    path, _ = bundle
    hostile = rewrite_bundle(path, tmp_path / "hostile.tar", index)
    assert_error(run("load", hostile), 3, "index.json")
    assert tags(run) == []


def test_loading_a_bundle_over_a_local_tag_says_so(run, bundle, hello: Path, tmp_path: Path) -> None:
    path, index = bundle
    name = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
    (hello / "SKILL.md").write_text((hello / "SKILL.md").read_text() + "\nChanged.\n")
    local = ok_json(run("pack", hello, "--format", "json"))
    assert local["ref"] == name
    result = run("load", path)
    assert result.exit_code == 0, result.stderr
    assert f"replaced the local {name} (it was {local['digest']})" in result.stderr
    assert ok_json(run("load", path, "--format", "json"))[0]["replaced"] is None


# -- 14 and 17: damaged local state, full and read-only disks ----------------------------------------------


def in_mount_namespace(script: str, *args: object, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``sh -c script`` as root of a private user and mount namespace, where the test may mount a tiny tmpfs
    or a read-only bind mount without touching the machine (util-linux ``unshare``, no privileges needed)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is not installed", pytrace=False)
    exe = shutil.which("skillctl", path=str(Path(sys.executable).parent)) or "skillctl"
    return subprocess.run(
        [unshare, "-rm", "sh", "-c", script, "sh", exe, *(str(a) for a in args)],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_full_install_target_is_a_disk_error_not_a_bad_layer(run, tmp_path: Path, store_path: Path) -> None:
    skill = make_skill(tmp_path / "skill", name="big", files={"data.bin": os.urandom(1024 * 1024)})
    ref = ok_json(run("pack", skill, "--format", "json"))["ref"]
    target = tmp_path / "target"
    target.mkdir()
    done = in_mount_namespace(
        'mount -t tmpfs -o size=256k tmpfs "$2" && exec "$1" --store "$3" install "$4" -o "$2"',
        target, store_path, ref,
    )  # fmt: skip
    one_error(done, 1, "No space left on device")
    assert str(target) in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["pack", "SKILL"],
        ["tag", "REF", "ns/other:1.0.0"],
        ["rm", "-f", "REF"],
        ["prune"],
        ["promote", "REF", "--to", "testing", "--local"],
    ],
)
def test_a_read_only_store_is_one_error(args: list[str], run, packed, hello: Path, store_path: Path) -> None:
    argv = [{"SKILL": hello, "REF": packed["ref"]}.get(a, a) for a in args]
    if args[0] == "pack":
        (hello / "SKILL.md").write_text((hello / "SKILL.md").read_text() + "\nNew.\n")
    if args[0] == "prune":
        run("rm", "-f", packed["ref"])
    before = sorted(p.relative_to(store_path).as_posix() for p in store_path.rglob("*"))
    done = in_mount_namespace(
        'exe="$1"; store="$2"; shift 2; mount --bind "$store" "$store" && mount -o remount,bind,ro "$store" '
        '&& exec "$exe" --store "$store" "$@"',
        store_path, *argv,
    )  # fmt: skip
    one_error(done, 1, "Read-only file system")
    assert sorted(p.relative_to(store_path).as_posix() for p in store_path.rglob("*")) == before


def test_a_store_whose_layout_file_is_a_directory(run, packed, store_path: Path) -> None:
    (store_path / "oci-layout").unlink()
    (store_path / "oci-layout").mkdir()
    assert_error(run("pack", EXAMPLE_HELLO), 1, "not a usable store")


def test_a_store_whose_blob_directory_is_a_file(run, tmp_path: Path) -> None:
    store = tmp_path / "broken-store"
    (store / "blobs").mkdir(parents=True)
    (store / "blobs" / "sha256").write_text("")
    result = run("--store", store, "pack", EXAMPLE_HELLO, store=False)
    assert_error(result, 1, "cannot create the store")


def _drop_blob(store_path: Path, digest: str) -> None:
    (store_path / "blobs" / "sha256" / digest.split(":", 1)[1]).unlink()


def test_damaged_entries_are_integrity_errors_and_do_not_spread(run, packed, store_path: Path, tmp_path: Path) -> None:
    _drop_blob(store_path, packed["layer"]["digest"])
    index_before = (store_path / "index.json").read_bytes()
    assert_error(run("promote", packed["ref"], "--to", "testing", "--local"), 10, "missing")
    assert_error(run("tag", packed["ref"], "ns/copy:1.0.0"), 10, "missing")
    assert_error(run("inspect", packed["ref"]), 10, "missing")
    assert_error(run("save", packed["ref"], "-o", tmp_path / "b.tar"), 10, "missing")
    assert (store_path / "index.json").read_bytes() == index_before
    assert not (tmp_path / "b.tar").exists()
    _drop_blob(store_path, packed["digest"])
    assert_error(run("tag", packed["ref"], "ns/copy:1.0.0"), 10, "missing")
    assert (store_path / "index.json").read_bytes() == index_before


@pytest.mark.parametrize("receipt", [b"[1, 2]", b'"text"', b"null", b"{broken"])
def test_a_receipt_that_is_not_an_object_is_ignored_then_replaced(receipt: bytes, run, packed, tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    assert run("install", packed["ref"], "-o", skills).exit_code == 0
    name = packed["ref"].split("/")[-1].split(":")[0]
    path = skills / ".skillimage" / "receipts" / f"{name}.json"
    path.write_bytes(receipt)
    listed = run("list", "--installed", "-o", skills, "--format", "json")
    assert ok_json(listed)[0]["name"] == name
    assert "unreadable receipt" in listed.stderr
    assert run("install", packed["ref"], "-o", skills).exit_code == 0
    assert json.loads(path.read_bytes())["digest"] == packed["digest"]


@pytest.mark.parametrize("auths", [{"127.0.0.1:1": "a string"}, {"127.0.0.1:1": [1]}, "not an object", [1]])
def test_a_malformed_auth_file_is_an_auth_error(auths, run, tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": auths}))
    assert_error(run("inspect", "--remote", "127.0.0.1:1/ns/x:1", "--authfile", authfile, "--timeout", "5"), 6,
                 str(authfile))  # fmt: skip
    logout = run("logout", "127.0.0.1:1", "--authfile", authfile)
    if isinstance(auths, dict):  # logout removes the broken entry
        assert logout.exit_code == 0, logout.stderr
        assert json.loads(authfile.read_text())["auths"] == {}
    else:
        assert_error(logout, 6, str(authfile))


def test_a_file_shrinking_while_pack_reads_it(run, tmp_path: Path, store_path: Path) -> None:
    """The file is truncated the moment pack has opened it (seen in /proc/self/fd), in this process."""
    from skillctl.core.errors import UnsafeContentError
    from skillctl.image.pack import pack

    skill = make_skill(tmp_path / "skill", name="skill")
    big = skill / "big.bin"
    with big.open("wb") as fh:
        fh.truncate(512 * 1024 * 1024)  # sparse: cheap to make, slow enough to read
    stop = threading.Event()

    def shrink_when_opened() -> None:
        while not stop.is_set():
            for fd in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{fd}") == str(big):
                        time.sleep(0.05)
                        os.truncate(big, 4096)
                        return
                except OSError:
                    continue

    watcher = threading.Thread(target=shrink_when_opened, daemon=True)
    watcher.start()
    try:
        with pytest.raises(UnsafeContentError, match="changed while packing"):
            pack(skill, store=Store(store_path))
    finally:
        stop.set()
        watcher.join(5)


# -- 19: bad arguments the sweep does not spell out ---------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["my registry", "reg\n.example", "régistry.example", "\x1b[2J", "../../etc/passwd", "r" * 5000,
     os.fsdecode(b"\xffbad"), "quay.io/org/repo", ""],
)  # fmt: skip
def test_login_and_logout_refuse_what_is_not_a_registry_host(host: str, run, tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    login = run("login", host, "-u", "user", "--password-stdin", "--authfile", authfile, input="pw\n")
    assert_error(login, 2, "registry")
    assert_error(run("logout", host, "--authfile", authfile), 2, "registry")
    assert not authfile.exists()


def test_login_accepts_a_scheme_and_a_trailing_slash(run, tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    down = "127.0.0.1:1"
    result = run("login", f"https://{down}/", "-u", "user", "--password-stdin", "--authfile", authfile,
                 "--timeout", "5", input="pw\n")  # fmt: skip
    assert_error(result, 7, down)  # parsed, then the (closed) registry is asked


def test_verify_needs_a_registry_reference(run, tmp_path: Path) -> None:
    from skillctl.trust.signing import generate_key_pair

    _, pub = generate_key_pair(tmp_path / "keys", b"pw")
    assert_error(run("verify", "ns/skill:1.0.0", "--key", pub), 2, "registry")


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "LONG"],
        ["init", "LONG"],
        ["pack", "LONG"],
        ["install", "REF", "-o", "LONG"],
        ["uninstall", "x", "-o", "LONG"],
        ["save", "REF", "-o", "LONG"],
        ["--store", "LONG", "list"],
        ["inspect", "--remote", "127.0.0.1:1/ns/x:1", "--authfile", "LONG"],
    ],
)
def test_paths_longer_than_a_file_name_may_be(args: list[str], run, packed, tmp_path: Path) -> None:
    long = str(tmp_path / ("n" * 300) / "x")
    argv = [{"LONG": long, "REF": packed["ref"]}.get(a, a) for a in args]
    result = run(*argv, store=args[0] != "--store")
    assert_error(result, 2, "too long")


def test_save_needs_a_file_to_write(run, packed) -> None:
    assert_error(run("save", packed["ref"], "-o", ""), 2, "bundle")
