"""skillctl pack (alias build)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from cli_helpers import assert_error, ok_json
from helpers import make_skill


def index_digest(store_path, ref):
    index = json.loads((store_path / "index.json").read_bytes())
    [entry] = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == ref]
    return entry["digest"]


def test_pack(run, hello, store_path):
    result = run("pack", hello)
    assert result.exit_code == 0, result.stderr
    digest = index_digest(store_path, "examples/hello-world:1.0.0-draft")
    manifest = (store_path / "blobs/sha256" / digest[7:]).read_bytes()
    assert digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    layer_size = json.loads(manifest)["layers"][0]["size"]
    assert result.stdout == (
        f"Packed examples/hello-world:1.0.0-draft (2 files, layer {layer_size} B)\nDigest: {digest}\n"
    )
    assert result.stderr == ""


@pytest.mark.parametrize("command", ["pack", "build"])
def test_json_keys(run, hello, store_path, command):
    data = ok_json(run(command, hello, "--format", "json"))
    assert set(data) == {"ref", "digest", "status", "previousDigest", "layer", "files", "warnings"}
    assert set(data["layer"]) == {"digest", "diffId", "size"}
    assert data["ref"] == "examples/hello-world:1.0.0-draft"
    assert data["digest"] == index_digest(store_path, data["ref"])
    assert (data["status"], data["previousDigest"], data["files"], data["warnings"]) == ("created", None, 2, [])
    layer = (store_path / "blobs/sha256" / data["layer"]["digest"][7:]).read_bytes()
    assert data["layer"]["size"] == len(layer)


def test_quiet_prints_only_the_digest(run, hello, store_path):
    result = run("pack", "-q", hello)
    assert result.exit_code == 0
    assert result.stdout == index_digest(store_path, "examples/hello-world:1.0.0-draft") + "\n"


def test_repack_unchanged_then_moved(run, hello):
    first = ok_json(run("pack", hello, "--format", "json"))
    same = run("pack", hello)
    assert same.exit_code == 0
    assert same.stdout.startswith("Unchanged examples/hello-world:1.0.0-draft (same content as before;")
    assert same.stdout.endswith(f"Digest: {first['digest']}\n")
    (hello / "notes.md").write_text("new file\n")
    moved = run("pack", hello)
    assert moved.exit_code == 0
    assert f"content changed, tag moved from {first['digest']}" in moved.stdout
    data = ok_json(run("pack", hello, "--format", "json"))
    assert (data["status"], data["previousDigest"]) == ("unchanged", data["digest"])
    assert data["digest"] != first["digest"]


def test_tag_option(run, hello, store_path):
    data = ok_json(run("pack", hello, "-t", "quay.io/org/hello:1.0.0-draft", "--format", "json"))
    assert data["ref"] == "quay.io/org/hello:1.0.0-draft"
    assert index_digest(store_path, "quay.io/org/hello:1.0.0-draft") == data["digest"]


def test_source_date_epoch(run, hello):
    plain = ok_json(run("pack", hello, "--format", "json", "-t", "plain"))
    one = ok_json(run("pack", hello, "--format", "json", "-t", "one", env={"SOURCE_DATE_EPOCH": "1700000000"}))
    two = ok_json(run("pack", hello, "--format", "json", "-t", "two", env={"SOURCE_DATE_EPOCH": "1700000000"}))
    assert one["digest"] == two["digest"] != plain["digest"]
    assert_error(run("pack", hello, env={"SOURCE_DATE_EPOCH": "soon"}), 2, "SOURCE_DATE_EPOCH")


def test_bad_tag_is_a_usage_error(run, hello, store_path):
    assert_error(run("pack", hello, "--tag", "Bad Tag!"), 2, "invalid --tag")
    assert not (store_path / "index.json").exists()


def test_invalid_skill(run, tmp_path, store_path):
    root = make_skill(tmp_path / "s", name="S")
    result = run("pack", root)
    assert_error(result, 3, "1 validation error", "metadata.name", "skillctl validate")
    assert not store_path.exists()


def test_unsafe_content_names_the_path(run, tmp_path, store_path):
    root = make_skill(tmp_path / "s", name="s")
    os.symlink("/etc/passwd", root / "passwd")
    os.mkfifo(root / "pipe")
    result = run("pack", root)
    assert_error(result, 3, "2 paths cannot be packed", str(root / "passwd"), str(root / "pipe"), ".skillignore")
    assert not store_path.exists()


def test_warnings_and_strict(run, tmp_path):
    root = make_skill(tmp_path / "s", name="s")
    (root / "SKILL.md").write_text("---\nname: s\ndescription: d\nx-extra: 1\n---\n")
    result = run("pack", root)
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: ") and "x-extra" in result.stderr
    assert run("pack", "-q", root).stderr == ""
    assert_error(run("pack", "--strict", "-t", "strict", root), 3, "x-extra")


def test_missing_directory(run, tmp_path):
    assert_error(run("pack", tmp_path / "nope"), 4, "no such file or directory")


def test_pack_reports_the_hidden_files_it_leaves_out(run, tmp_path):
    skill = make_skill(
        tmp_path / "devcontainer-setup",
        "devcontainer-setup",
        files={"resources/.zshrc": "x", ".github/ci.yml": "y", ".skillignore": "# nothing re-included\n"},
    )
    result = run("pack", skill)
    assert result.exit_code == 0, result.stderr
    assert (
        "warning: " + str(skill) + ": left out 2 hidden files or folders: .github/, resources/.zshrc "
        "(re-include one with a '!PATH' line in .skillignore)"
    ) in result.stderr
    data = ok_json(run("pack", skill, "--format", "json"))
    [warning] = [w for w in data["warnings"] if "left out" in w["message"]]
    assert warning["severity"] == "warning" and ".github/" in warning["message"]
    (skill / ".skillignore").write_text("!resources/.zshrc\n")
    data = ok_json(run("pack", skill, "--format", "json"))
    assert data["status"] == "moved" and data["files"] == 3
    assert [w["message"] for w in data["warnings"] if "left out" in w["message"]] == [
        "left out 1 hidden file or folder: .github/ (re-include one with a '!PATH' line in .skillignore)"
    ]


@pytest.mark.parametrize(
    ("option", "value", "flag"), [("--max-files", "3", "--max-files N"), ("--max-size", "1K", "--max-size SIZE")]
)
def test_consumers_limit_errors_name_the_option_that_raises_the_limit(run, tmp_path, option, value, flag):
    skill = make_skill(tmp_path / "big", "big", files={"data.bin": b"x" * 4096, "more/a.txt": "a"})
    assert run("pack", skill).exit_code == 0
    result = run("install", "test/big:1.0.0-draft", "-o", tmp_path / "out", option, value)
    assert_error(result, 3, flag, "raise the limit")
    assert not (tmp_path / "out" / "big").exists()


def test_several_paths_are_each_packed_and_failures_do_not_stop_the_others(run, tmp_path, store_path):
    good = [make_skill(tmp_path / name, name) for name in ("one", "two")]
    bad = make_skill(tmp_path / "bad", "bad")
    (bad / "SKILL.md").unlink()  # no agent can load a skill without it: an error, not a warning
    data = ok_json(run("pack", *good, "--format", "json"))
    assert [d["ref"] for d in data] == ["test/one:1.0.0-draft", "test/two:1.0.0-draft"]
    result = run("pack", good[0], bad, good[1])
    assert result.exit_code == 3
    assert f"error: {bad}: " in result.stderr
    assert "Error: 1 of 3 skills failed: " + str(bad) in result.stderr
    assert result.stdout.count("Unchanged test/") == 2
    assert_error(run("pack", *good, "--tag", "x"), 2, "--tag names one image")
    both = run("validate", *good, "--format", "json")
    assert [d["valid"] for d in json.loads(both.stdout)] == [True, True]
    mixed = run("validate", good[0], bad)
    assert mixed.exit_code == 3 and f"✓ {good[0] / 'skill.yaml'} is valid" in mixed.stdout
    assert "SKILL.md" in mixed.stderr
    missing = run("validate", good[0], tmp_path / "nowhere")
    assert missing.exit_code == 4 and "1 of 2 skills failed" in missing.stderr
