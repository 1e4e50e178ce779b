"""The reproducible tar+gzip layer: normalised entries, exclusions, refused paths."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import struct
import tarfile
import threading
import time

import pytest
from helpers import make_skill

from skillctl.card.content import excluded_reason
from skillctl.core.errors import UnsafeContentError
from skillctl.image.layer import collect_entries, write_layer


def layer_of(root, mtime=0) -> tuple[bytes, object]:
    buf = io.BytesIO()
    info = write_layer(collect_entries(root), buf, mtime=mtime)
    return buf.getvalue(), info


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


@pytest.fixture
def rich(tmp_path):
    root = make_skill(
        tmp_path / "rich",
        name="rich",
        files={
            "scripts/run.sh": "#!/bin/sh\necho hi\n",
            "references/REF.md": "# Ref\n",
            "assets/x/y.txt": "y",
            "Zeta.md": "z",
        },
    )
    os.chmod(root / "scripts/run.sh", 0o700)
    os.chmod(root / "references/REF.md", 0o600)
    (root / "empty").mkdir()
    os.symlink("references/REF.md", root / "link.md")
    return root


def test_gzip_header_has_mtime_zero_and_no_name(rich):
    data, _ = layer_of(rich)
    magic, method, flags, mtime, _xfl, os_byte = struct.unpack("<HBBIBB", data[:10])
    assert magic == 0x8B1F and method == 8
    assert flags == 0  # no FNAME, no FCOMMENT, no FEXTRA
    assert mtime == 0
    assert os_byte == 255


def test_entries_are_sorted_and_normalised(rich):
    data, _ = layer_of(rich)
    entries = members(data)
    names = [m.name for m in entries]
    assert names == [
        "SKILL.md",
        "Zeta.md",
        "assets",
        "assets/x",
        "assets/x/y.txt",
        "empty",
        "link.md",
        "references",
        "references/REF.md",
        "scripts",
        "scripts/run.sh",
        "skill.yaml",
    ]
    assert names == sorted(names, key=lambda n: n.split("/"))
    for m in entries:
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", ""), m.name
        assert m.mtime == 0, m.name
        assert set(m.pax_headers) <= {"path", "linkpath"}, m.name
        if m.isdir():
            assert m.mode == 0o755, m.name
        elif m.issym():
            assert m.linkname == "references/REF.md"
        else:
            assert m.isreg(), m.name
            assert m.mode in (0o755, 0o644), m.name
    modes = {m.name: m.mode for m in entries}
    assert modes["scripts/run.sh"] == 0o755
    assert modes["references/REF.md"] == 0o644
    assert modes["SKILL.md"] == 0o644


def test_directory_entries_are_present_in_the_raw_tar(rich):
    data, _ = layer_of(rich)
    raw = gzip.decompress(data)
    # ustar typeflag '5' with a trailing slash, as every tar tool writes directories.
    assert b"assets/x/\x00" in raw
    assert b"empty/\x00" in raw


def test_digest_diff_id_and_size_describe_the_bytes(rich):
    data, info = layer_of(rich)
    assert info.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert info.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()
    assert info.size == len(data)


def test_same_files_give_the_same_bytes(rich):
    assert layer_of(rich)[0] == layer_of(rich)[0]


def test_mtime_comes_from_the_argument(rich):
    data, _ = layer_of(rich, mtime=1_700_000_000)
    assert {m.mtime for m in members(data)} == {1_700_000_000}
    assert struct.unpack("<I", data[4:8])[0] == 0


def test_file_contents_are_kept(rich):
    data, _ = layer_of(rich)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert tar.extractfile("scripts/run.sh").read() == b"#!/bin/sh\necho hi\n"
        assert tar.extractfile("assets/x/y.txt").read() == b"y"


def test_non_ascii_names_are_utf8(tmp_path):
    root = make_skill(tmp_path / "s", name="s", files={"ünïcode.md": "u"})
    names = [m.name for m in members(layer_of(root)[0])]
    assert "ünïcode.md" in names


EXCLUDED = [
    ".hidden",
    ".git/config",
    ".git/objects/ab/cd",
    ".github/workflows/ci.yml",
    "sub/.env",
    "CVS/Entries",
    "sub/RCS/file,v",
    "SCCS/s.file",
    "_darcs/x",
    "build/out.bin",
    "src/build/x.o",
    "a.log",
    "sub/b.log",
    "rooted.txt",
    "docs/a/b/c.tmp",
]
KEPT = ["keep.log", "sub/keep.log", "other/build", "sub/rooted.txt", "docs/a/b/c.md", "src/main.py", "notes.txt"]
IGNORE = "build/\n*.log\n!keep.log\n/rooted.txt\ndocs/**/*.tmp\n"


def test_hidden_vcs_and_skillignore_paths_are_left_out(tmp_path):
    files = {p: p for p in EXCLUDED + KEPT} | {".skillignore": IGNORE}
    root = make_skill(tmp_path / "s", name="s", files=files)
    names = {e.rel for e in collect_entries(root) if e.kind == "file"}
    assert names == {"SKILL.md", "skill.yaml", *KEPT}
    for rel in [*EXCLUDED, ".skillignore"]:
        assert excluded_reason(root, rel), rel
    for rel in KEPT:
        assert excluded_reason(root, rel) is None, rel
    dirs = {e.rel for e in collect_entries(root) if e.kind == "dir"}
    assert dirs == {"sub", "other", "docs", "docs/a", "docs/a/b", "src"}


def test_exclusion_reasons(tmp_path):
    root = make_skill(tmp_path / "s", name="s", files={".skillignore": IGNORE})
    assert excluded_reason(root, ".env") == "hidden file '.env'"
    assert excluded_reason(root, ".git/config") == "version-control folder '.git'"
    assert excluded_reason(root, ".github/x.yml") == "hidden folder '.github'"
    assert excluded_reason(root, "CVS/Entries") == "version-control folder 'CVS'"
    assert excluded_reason(root, "build/x") == "matched by .skillignore"


def test_skillignore_changes_are_picked_up(tmp_path):
    root = make_skill(tmp_path / "s", name="s", files={"a.txt": "a", ".skillignore": "a.txt\n"})
    assert "a.txt" not in {e.rel for e in collect_entries(root)}
    (root / ".skillignore").write_text("# nothing\n")
    os.utime(root / ".skillignore", ns=(1, 1))
    assert "a.txt" in {e.rel for e in collect_entries(root)}


def test_symlinks_inside_are_kept_relative(tmp_path):
    root = make_skill(tmp_path / "s", name="s", files={"references/REF.md": "r", "scripts/x.sh": "x"})
    os.symlink("references/REF.md", root / "rel.md")
    os.symlink(root / "references" / "REF.md", root / "abs.md")
    os.symlink("../SKILL.md", root / "scripts" / "up.md")
    os.symlink("references", root / "refdir")
    links = {e.rel: e.target for e in collect_entries(root) if e.kind == "symlink"}
    assert links == {
        "rel.md": "references/REF.md",
        "abs.md": "references/REF.md",
        "scripts/up.md": "../SKILL.md",
        "refdir": "references",
    }
    tar_links = {m.name: (m.linkname, m.mode) for m in members(layer_of(root)[0]) if m.issym()}
    assert tar_links["abs.md"] == ("references/REF.md", 0o777)


def _make_fifo(root):
    os.mkfifo(root / "pipe")
    return root / "pipe", "is a fifo"


def _make_socket(root, monkeypatch):
    monkeypatch.chdir(root)  # unix socket paths are limited to ~100 bytes: bind a relative name
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind("sock")
    sock.close()
    return root / "sock", "is a socket"


@pytest.mark.parametrize(
    "case", ["escape-relative", "escape-absolute", "dangling", "loop", "to-hidden", "to-ignored", "fifo", "socket"]
)
def test_unsafe_paths_are_refused_naming_the_path(tmp_path, monkeypatch, case):
    (tmp_path / "outside.txt").write_text("secret")
    root = make_skill(
        tmp_path / "s", name="s", files={".secret": "s", "ignored.txt": "i", ".skillignore": "ignored.txt\n"}
    )
    if case == "escape-relative":
        os.symlink("../outside.txt", root / "evil")
        path, message = root / "evil", "symlink to '../outside.txt' leaves the skill"
    elif case == "escape-absolute":
        os.symlink("/etc/passwd", root / "evil")
        path, message = root / "evil", "symlink to '/etc/passwd' leaves the skill"
    elif case == "dangling":
        os.symlink("nope.md", root / "dangling")
        path, message = root / "dangling", "symlink to 'nope.md' is dangling"
    elif case == "loop":
        os.symlink("loop-b", root / "loop-a")
        os.symlink("loop-a", root / "loop-b")
        path, message = root / "loop-a", "symlink to 'loop-b' is a loop"
    elif case == "to-hidden":
        os.symlink(".secret", root / "link")
        path, message = root / "link", "points to '.secret', which is not packaged (hidden or ignored)"
    elif case == "to-ignored":
        os.symlink("ignored.txt", root / "link")
        path, message = root / "link", "points to 'ignored.txt', which is not packaged (hidden or ignored)"
    elif case == "fifo":
        path, message = _make_fifo(root)
    else:
        path, message = _make_socket(root, monkeypatch)
    with pytest.raises(UnsafeContentError) as info:
        collect_entries(root)
    assert [p for p in info.value.problems if p.startswith(f"{path}: {message}")], info.value.problems
    assert str(path) in info.value.message
    assert info.value.hint and ".skillignore" in info.value.hint


def test_every_unsafe_path_is_reported_at_once(tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    os.symlink("/etc/passwd", root / "a-escape")
    os.symlink("missing", root / "b-dangling")
    os.mkfifo(root / "c-fifo")
    with pytest.raises(UnsafeContentError) as info:
        collect_entries(root)
    assert info.value.message.startswith(f"{root}: 3 paths cannot be packed: ")
    assert [p.split(": ", 1)[0] for p in info.value.problems] == [
        str(root / "a-escape"),
        str(root / "b-dangling"),
        str(root / "c-fifo"),
    ]


def test_unsafe_paths_can_be_ignored(tmp_path):
    root = make_skill(tmp_path / "s", name="s", files={".skillignore": "evil\npipe\n"})
    os.symlink("/etc/passwd", root / "evil")
    os.mkfifo(root / "pipe")
    assert {e.rel for e in collect_entries(root)} == {"SKILL.md", "skill.yaml"}


@pytest.mark.parametrize(("before", "after"), [("1234", "123456789"), ("123456789", "1234")], ids=["grew", "shrank"])
def test_file_changing_while_packing_is_refused(tmp_path, before, after):
    root = make_skill(tmp_path / "s", name="s", files={"data.txt": before})
    entries = collect_entries(root)
    (root / "data.txt").write_text(after)
    with pytest.raises(UnsafeContentError, match=r"data\.txt: changed while packing"):
        write_layer(entries, io.BytesIO())


def test_file_growing_by_one_byte_while_packing_is_refused(tmp_path):
    # Files are read without an fstat: one byte more than the recorded size is asked for, so growth still shows.
    root = make_skill(tmp_path / "s", name="s", files={"data.txt": "1234", "big.bin": ""})
    (root / "big.bin").write_bytes(b"b" * (1024 * 1024))  # exactly one read's worth
    entries = collect_entries(root)
    with (root / "big.bin").open("ab") as fh:
        fh.write(b"!")
    with pytest.raises(UnsafeContentError, match=r"big\.bin: changed while packing"):
        write_layer(entries, io.BytesIO())
    (root / "big.bin").write_bytes(b"b" * (1024 * 1024))
    (root / "data.txt").write_text("12345")
    with pytest.raises(UnsafeContentError, match=r"data\.txt: changed while packing"):
        write_layer(entries, io.BytesIO())


def test_a_fifo_taking_a_files_place_while_packing_is_refused_without_waiting(tmp_path):
    root = make_skill(tmp_path / "s", name="s", files={"data.txt": "1234"})
    entries = collect_entries(root)
    (root / "data.txt").unlink()
    os.mkfifo(root / "data.txt")
    raised: list[BaseException] = []

    def pack() -> None:
        try:
            write_layer(entries, io.BytesIO())
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=pack, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():  # blocked opening the fifo: let it go before failing
        os.close(os.open(root / "data.txt", os.O_WRONLY))
        worker.join(30)
        pytest.fail("write_layer waited for a writer on a fifo")
    assert len(raised) == 1 and isinstance(raised[0], UnsafeContentError), raised
    assert "data.txt: changed while packing" in str(raised[0])


def _compressor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "skillctl-layer-gzip"]


class _FailingOut(io.BytesIO):
    """An output that fails after ``good`` writes, as a full disk does, and records writes made after that."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good
        self.writes = 0

    def write(self, data) -> int:
        self.writes += 1
        if self.writes > self.good:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_an_error_writing_the_output_reaches_the_caller_as_it_is(tmp_path):
    # Compression and writes run in a worker thread; its error must surface in the caller, not as a file's error.
    root = make_skill(tmp_path / "s", name="s")
    for i in range(40):
        (root / f"r{i:02d}.bin").write_bytes(os.urandom(256 * 1024))  # incompressible: many writes to fail in
    entries = collect_entries(root)
    out = _FailingOut(good=3)
    with pytest.raises(OSError, match="No space left on device") as info:
        write_layer(entries, out)
    assert not isinstance(info.value, UnsafeContentError)
    assert _compressor_threads() == []
    writes = out.writes
    time.sleep(0.2)
    assert out.writes == writes  # nothing writes to the output once write_layer has returned


def test_a_file_error_stops_the_worker_before_write_layer_raises(tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    for i in range(20):
        (root / f"r{i:02d}.bin").write_bytes(os.urandom(256 * 1024))
    entries = collect_entries(root)
    (root / "r19.bin").write_bytes(b"shorter")
    out = _FailingOut(good=10**6)
    with pytest.raises(UnsafeContentError, match=r"r19\.bin: changed while packing"):
        write_layer(entries, out)
    assert _compressor_threads() == []
    writes = out.writes
    time.sleep(0.2)
    assert out.writes == writes


HEADER_NAMES = ["a", "SKILL.md", "with space.md", "[x]-y_z.txt", "d/" * 49 + "e", "n" * 99, "n" * 100, "n" * 101,
                "naïve.md", "a/b/c/d.md"]  # fmt: skip


@pytest.mark.parametrize("mtime", [0, 1, 1_700_000_000, 8**11 - 1, 8**11])
def test_fast_headers_are_the_headers_tarfile_writes(mtime):
    from skillctl.image.layer import Entry, _fast_header, _tarfile_header

    entries = []
    for name in HEADER_NAMES:
        entries.append(Entry(name, "dir", name, 0o755))
        entries.append(Entry(name, "symlink", name, 0o777, target=name))
        entries.append(Entry(name, "symlink", name, 0o777, target="../" + name))
        for mode in (0o644, 0o755):
            for size in (0, 1, 511, 512, 513, 10**6, 8**11 - 1, 8**11):
                entries.append(Entry(name, "file", name, mode, size))
    built = 0
    for entry in entries:
        header = _fast_header(entry, mtime)
        if header is not None:
            built += 1
            assert header == _tarfile_header(entry, mtime), entry
        else:  # only where tarfile needs an extended header
            assert len(_tarfile_header(entry, mtime)) > tarfile.BLOCKSIZE, entry
    if mtime < 8**11:
        assert built > len(entries) // 2  # most headers are built here: the comparison is not an empty one
    else:
        assert built == 0  # an mtime that does not fit its field needs an extended header


def test_skillignore_negation_re_includes_hidden_files(tmp_path):
    files = {
        "resources/.zshrc": "export X=1\n",
        "resources/.other": "x",
        ".config/tool.toml": "a = 1\n",
        ".devcontainer/devcontainer.json": "{}",
        ".git/config": "[core]\n",
        ".env": "SECRET=1\n",
        ".skillignore": "!resources/.zshrc\n!.config/\n!.git/\n.env\n",
    }
    root = make_skill(tmp_path / "s", name="s", files=files)
    left_out: list[str] = []
    names = {e.rel for e in collect_entries(root, left_out)}
    assert {"resources/.zshrc", ".config", ".config/tool.toml"} <= names
    assert not names & {"resources/.other", ".devcontainer", ".git", ".git/config", ".env", ".skillignore"}
    # Reported: what the hidden-files default dropped; not what .skillignore names, not VCS, not .skillignore.
    assert left_out == [".devcontainer/", "resources/.other"]
    assert excluded_reason(root, "resources/.zshrc") is None
    assert excluded_reason(root, ".env") == "matched by .skillignore"
    assert excluded_reason(root, ".git/config") == "version-control folder '.git'"
    # A file in a hidden folder comes back only with its folder (gitignore's rule).
    (root / ".skillignore").write_text("!.devcontainer/devcontainer.json\n")
    os.utime(root / ".skillignore", ns=(2, 2))
    assert ".devcontainer/devcontainer.json" not in {e.rel for e in collect_entries(root)}


def tarfile_layer(entries, mtime: int) -> bytes:
    """The layer as tarfile itself writes it (stream mode, PAX), gzip as write_layer sets it up: the reference."""
    from skillctl.image.layer import GZIP_LEVEL, _tarinfo

    out = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=GZIP_LEVEL, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar,
    ):
        for entry in entries:
            info = _tarinfo(entry, mtime)
            if entry.kind == "file":
                with open(entry.path, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return out.getvalue()


@pytest.mark.parametrize("mtime", [0, 1_700_000_000, 8**11])
def test_the_layer_is_byte_for_byte_what_tarfile_writes(tmp_path, rich, mtime):
    # write_layer builds plain headers itself (tarfile is slow per entry); the bytes must not change for it.
    root = rich
    long_dir = root / ("d" * 60) / ("e" * 60)
    long_dir.mkdir(parents=True)
    (long_dir / "long-name.md").write_text("long path: a PAX header\n")
    (root / "naïve-ünïcode.md").write_text("not ASCII: a PAX header\n")
    (root / ("n" * 100)).write_text("exactly 100\n")
    (root / ("m" * 101)).write_text("101: a PAX header\n")
    (root / "block.bin").write_bytes(b"x" * 512)
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (root / "empty.txt").write_bytes(b"")
    os.symlink(os.path.relpath(long_dir / "long-name.md", root), root / "to-long")
    entries = collect_entries(root)
    assert len(entries) > 15
    from skillctl.image import layer

    assert layer._fast_headers_match()  # this Python's tarfile agrees: the fast headers are the ones compared
    buf = io.BytesIO()
    info = write_layer(entries, buf, mtime=mtime)
    assert buf.getvalue() == tarfile_layer(entries, mtime)
    assert info.size == len(buf.getvalue())


def test_a_tarfile_that_writes_other_headers_is_used_for_every_entry(tmp_path, rich, monkeypatch):
    from skillctl.image import layer

    layer._fast_headers_match.cache_clear()
    monkeypatch.setattr(layer, "_fast_header", lambda entry, mtime: b"not what tarfile writes")
    try:
        assert not layer._fast_headers_match()
        data, _ = layer_of(rich)
        assert data == tarfile_layer(collect_entries(rich), 0)
    finally:
        layer._fast_headers_match.cache_clear()


def test_without_a_skillignore_hidden_paths_match_as_gitignore_matches_dot_star():
    # A skill without .skillignore is matched without pathspec; the rule must be exactly gitignore's ".*".
    import itertools

    import pathspec

    from skillctl.card.content import HiddenOnly

    spec = pathspec.GitIgnoreSpec.from_lines([".*"])
    names = ["a", ".a", "..a", "a.", "a.b", ".", "..", "...", "a .b", " .a", "-", ".git", "x.y.z", "é", ".é"]
    checked = 0
    for count in (1, 2, 3):
        for parts in itertools.product(names, repeat=count):
            for prefix, suffix in itertools.product(("", "./"), ("", "/")):
                key = prefix + "/".join(parts) + suffix
                assert HiddenOnly.match_file(key) == spec.match_file(key), key
                checked += 1
    assert checked > 10_000


def test_a_skill_without_skillignore_is_matched_without_pathspec(tmp_path):
    from skillctl.card.content import HiddenOnly, content_rules

    root = make_skill(tmp_path / "plain", name="plain")
    assert isinstance(content_rules(root).combined, HiddenOnly)
    (root / ".skillignore").write_text("*.log\n")
    assert not isinstance(content_rules(root).combined, HiddenOnly)


def test_content_totals_from_the_entries_match_a_walk_of_the_tree(rich):
    from skillctl.card.content import content_totals
    from skillctl.image.layer import content_totals_of

    os.symlink("assets/x", rich / "dir-link")  # a link to a folder: not a file
    (rich / ".hidden").write_text("left out")
    (rich / ".skillignore").write_text("Zeta.md\n")
    entries = collect_entries(rich)
    assert content_totals_of(entries) == content_totals(rich)
    files, size = content_totals_of(entries)
    assert files == sum(1 for e in entries if e.kind == "file") + 1  # link.md counts as the file it leads to
    assert size == sum(e.size for e in entries if e.kind == "file") + len("# Ref\n")


def test_pack_walks_the_tree_once(rich, tmp_path, monkeypatch):
    """Validation's MCP limits count the entries pack collects; a second walk of 10,000 files costs a quarter of
    the pack."""
    import skillctl
    import skillctl.card.content as content
    import skillctl.image.layer as layer

    walks = []
    real = layer.collect_entries
    monkeypatch.setattr("skillctl.image.pack.collect_entries", lambda *a, **k: walks.append(1) or real(*a, **k))
    monkeypatch.setattr(content, "content_totals", lambda root: pytest.fail("walked the tree a second time"))
    monkeypatch.setattr("skillctl.image.pack.content_totals", content.content_totals)
    # The walk refuses names no unpack accepts: validation need not walk again for them either.
    monkeypatch.setattr(content, "unusable_names", lambda root: pytest.fail("walked the tree again for names"))
    monkeypatch.setattr("skillctl.image.pack.unusable_names", content.unusable_names)
    skillctl.pack(rich, store=skillctl.Store(tmp_path / "store"))
    assert walks == [1]


def test_the_walk_leaves_out_what_the_full_rules_leave_out(tmp_path):
    # The walk looks at a name alone when there is no .skillignore; it must agree with the rule on the whole path.
    import itertools

    from skillctl.card.content import content_rules

    names = ["a", ".a", "..a", "a.", ".git", "CVS", "x.log", "build", "é", " .a"]
    for ignore in (None, "*.log\n!.a\nbuild/\n"):
        root = make_skill(tmp_path / f"s{ignore is None}", name="s", files={".skillignore": ignore} if ignore else {})
        rules = content_rules(root)
        checked = 0
        for count in (1, 2, 3):
            for parts in itertools.product(names, repeat=count):
                parents = ["/".join(parts[:i]) for i in range(1, count)]
                if any(rules.excluded(p, is_dir=True) for p in parents):
                    continue  # the walk never enters it
                rel = "/".join(parts)
                for is_dir in (False, True):
                    assert rules.excluded_child(rel, parts[-1], is_dir) == rules.excluded(rel, is_dir=is_dir), rel
                    checked += 1
        assert checked > 100
