"""A killed pack leaves a readable store; parallel packs (and prunes) lose nothing.

These run the installed ``skillctl`` console script as separate processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import make_skill

import skillctl

SKILLCTL = Path(sys.executable).parent / "skillctl"
BIG_MB = 200


def skillctl_cmd(store: Path, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(SKILLCTL), "--store", str(store), *map(str, args)], capture_output=True, text=True, timeout=300
    )
    if check:
        assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
    return result


def referenced_blobs(store: Path) -> set[str]:
    """Every blob the index reaches (manifests, configs, layers), computed from the files themselves."""
    index = json.loads((store / "index.json").read_bytes())
    keep = set()
    for entry in index["manifests"]:
        keep.add(entry["digest"])
        manifest = json.loads((store / "blobs/sha256" / entry["digest"][7:]).read_bytes())
        keep.add(manifest["config"]["digest"])
        keep.update(layer["digest"] for layer in manifest["layers"])
    return keep


def assert_store_is_sound(store: Path) -> None:
    """index.json parses, every referenced blob exists and hashes to its name."""
    for digest in referenced_blobs(store):
        data = (store / "blobs/sha256" / digest[7:]).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest


@pytest.fixture(scope="session")
def big_skill(tmp_path_factory) -> Path:
    """A 200 MB skill of random data, written once per session."""
    root = make_skill(tmp_path_factory.mktemp("big") / "big", name="big")
    (root / "data").mkdir()
    chunk = 20 * 1024 * 1024
    for i in range(BIG_MB * 1024 * 1024 // chunk):
        (root / "data" / f"part-{i:02d}.bin").write_bytes(os.urandom(chunk))
    return root


def test_installed_console_script_is_used():
    assert SKILLCTL.is_file() and os.access(SKILLCTL, os.X_OK)
    out = subprocess.run([str(SKILLCTL), "--version"], capture_output=True, text=True, check=True).stdout
    assert out == f"skillctl {skillctl.__version__}\n"


def test_kill_9_during_pack_leaves_a_readable_store(big_skill, hello, tmp_path):
    store = tmp_path / "store"
    skillctl_cmd(store, "pack", hello)
    hello_digest = json.loads(
        skillctl_cmd(store, "inspect", "examples/hello-world:1.0.0-draft", "--format", "json").stdout
    )["digest"]
    killed = 0
    for i, delay in enumerate([0.15, 0.6, 1.2, 2.2]):
        (big_skill / "round.txt").write_text(f"round {i}\n")  # new content each time: a new layer is written
        proc = subprocess.Popen(
            [str(SKILLCTL), "--store", str(store), "pack", str(big_skill)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        killed += proc.returncode == -signal.SIGKILL

        listed = skillctl_cmd(store, "list", "--format", "json")
        refs = [row["ref"] for row in json.loads(listed.stdout)]
        assert "examples/hello-world:1.0.0-draft" in refs
        inspected = json.loads(
            skillctl_cmd(store, "inspect", "examples/hello-world:1.0.0-draft", "--format", "json").stdout
        )
        assert inspected["digest"] == hello_digest
        if "test/big:1.0.0-draft" in refs:
            big = json.loads(skillctl_cmd(store, "inspect", "test/big:1.0.0-draft", "--format", "json").stdout)
            assert big["layers"][0]["size"] > BIG_MB * 1024 * 1024
        else:
            assert skillctl_cmd(store, "inspect", "test/big:1.0.0-draft", check=False).returncode == 4
        assert_store_is_sound(store)
    assert killed >= 3, "pack finished before it could be killed; the test did not test anything"

    leftovers = list((store / ".skillctl/tmp").iterdir())
    assert leftovers, "a pack killed while writing its layer leaves its temporary blob behind"
    leftover_bytes = sum(p.stat().st_size for p in leftovers)
    pruned = json.loads(skillctl_cmd(store, "prune", "--format", "json").stdout)
    assert pruned["bytesFreed"] >= leftover_bytes
    assert list((store / ".skillctl/tmp").iterdir()) == []
    assert list(store.glob(".*.tmp")) == []
    blobs = {"sha256:" + p.name for p in (store / "blobs/sha256").iterdir()}
    assert blobs == referenced_blobs(store)
    skillctl_cmd(store, "inspect", "examples/hello-world:1.0.0-draft")
    assert skillctl_cmd(store, "list").stdout.startswith("NAME")


CRASH_SCRIPT = """
import os, sys
import skillctl.store.layout as store
point, argv = sys.argv[1], sys.argv[2:]
if point == "mid-layer":
    real_write = store.BlobWriter.write
    def write(self, data):
        if self.size > 64 * 1024:
            os._exit(137)
        return real_write(self, data)
    store.BlobWriter.write = write
elif point == "after-blobs":
    store.Store.set_tag = lambda *a, **k: os._exit(137)
elif point == "index-rename":
    real_replace = os.replace
    def replace(src, dst):
        if str(dst).endswith("index.json"):
            os._exit(137)
        return real_replace(src, dst)
    os.replace = replace
from skillctl.cli import main
sys.argv = ["skillctl", *argv]
main()
"""


@pytest.mark.parametrize("point", ["mid-layer", "after-blobs", "index-rename"])
def test_death_at_each_write_step_leaves_a_readable_store(tmp_path, hello, point):
    """Deterministic crash points: while the layer streams, after the blobs but before the tag,
    and between writing the new index.json and renaming it into place."""
    store = tmp_path / "store"
    skillctl_cmd(store, "pack", hello)
    index_before = (store / "index.json").read_bytes()
    skill = make_skill(tmp_path / "victim", name="victim", files={"data.bin": os.urandom(512 * 1024)})
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, point, "--store", str(store), "pack", str(skill)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # never import the source tree: the installed package is under test
    )
    assert proc.returncode == 137, proc.stderr
    assert (store / "index.json").read_bytes() == index_before
    assert skillctl_cmd(store, "list", "-q").stdout == "examples/hello-world:1.0.0-draft\n"
    skillctl_cmd(store, "inspect", "examples/hello-world:1.0.0-draft")
    assert skillctl_cmd(store, "inspect", "test/victim:1.0.0-draft", check=False).returncode == 4
    assert_store_is_sound(store)
    leftovers = {
        "mid-layer": list((store / ".skillctl/tmp").iterdir()),
        "after-blobs": [
            p for p in (store / "blobs/sha256").iterdir() if "sha256:" + p.name not in referenced_blobs(store)
        ],
        "index-rename": list(store.glob(".index.json.*.tmp")),
    }[point]
    assert leftovers
    skillctl_cmd(store, "prune")
    assert list((store / ".skillctl/tmp").iterdir()) == []
    assert list(store.glob(".index.json.*.tmp")) == []
    assert {"sha256:" + p.name for p in (store / "blobs/sha256").iterdir()} == referenced_blobs(store)
    # and the store keeps working
    skillctl_cmd(store, "pack", skill)
    assert skillctl_cmd(store, "list", "-q").stdout.splitlines() == [
        "examples/hello-world:1.0.0-draft",
        "test/victim:1.0.0-draft",
    ]


def eight_skills(root: Path) -> list[Path]:
    return [
        make_skill(root / f"skill-{i}", name=f"skill-{i}", files={"data.bin": os.urandom(2 * 1024 * 1024)})
        for i in range(8)
    ]


def test_parallel_packs_lose_nothing(tmp_path):
    store = tmp_path / "store"  # not created yet: the eight processes race to create it too
    skills = eight_skills(tmp_path / "skills")
    procs = [
        subprocess.Popen(
            [str(SKILLCTL), "--store", str(store), "pack", "-q", str(s)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for s in skills
    ]
    digests = {}
    for skill, proc in zip(skills, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        digests[f"test/{skill.name}:1.0.0-draft"] = out.strip()
    rows = json.loads(skillctl_cmd(store, "list", "--format", "json").stdout)
    assert {r["ref"]: r["digest"] for r in rows} == digests
    assert len(rows) == 8
    assert_store_is_sound(store)
    for ref in digests:
        skillctl.unpack_image(ref, tmp_path / "out", store=skillctl.Store(store))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"skill-{i}" for i in range(8)]


def test_parallel_packs_and_prunes_lose_nothing(tmp_path, hello):
    store = tmp_path / "store"
    # garbage for the prunes to collect while the packs run: the blobs of a manifest whose tag moved
    skillctl_cmd(store, "pack", hello)
    with (hello / "SKILL.md").open("a") as fh:
        fh.write("\nchanged\n")
    skillctl_cmd(store, "pack", hello)
    assert len(list((store / "blobs/sha256").iterdir())) == 6
    skills = eight_skills(tmp_path / "skills")
    procs = []
    for i, skill in enumerate(skills):
        procs.append(
            (
                "pack",
                skill,
                subprocess.Popen(
                    [str(SKILLCTL), "--store", str(store), "pack", "-q", str(skill)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
        if i % 2:
            procs.append(
                (
                    "prune",
                    None,
                    subprocess.Popen(
                        [str(SKILLCTL), "--store", str(store), "prune", "--format", "json"],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                )
            )
    digests = {}
    for kind, skill, proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (kind, err)
        if kind == "pack":
            digests[f"test/{skill.name}:1.0.0-draft"] = out.strip()
    rows = {r["ref"]: r["digest"] for r in json.loads(skillctl_cmd(store, "list", "--format", "json").stdout)}
    for ref, digest in digests.items():
        assert rows[ref] == digest
    assert set(rows) == {*digests, "examples/hello-world:1.0.0-draft"}
    assert_store_is_sound(store)
    for ref in rows:
        skillctl.unpack_image(ref, tmp_path / "out" / ref.replace("/", "_"), store=skillctl.Store(store))
    skillctl_cmd(store, "prune")
    assert {"sha256:" + p.name for p in (store / "blobs/sha256").iterdir()} == referenced_blobs(store)
