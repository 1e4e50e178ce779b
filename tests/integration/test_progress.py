"""Progress on long operations, as podman and skopeo users expect: on a terminal only, never in JSON, -q or a pipe.

The commands run as a user runs them, in a pseudo-terminal (stdout and stderr both a tty), against the
CNCF registry on loopback: push, pull, save, load, mirror and a collection install.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from registry import Registry, unique_skill

from skillctl import Store
from skillctl.image.pack import pack

pytestmark = pytest.mark.integration
NO_TLS = "--tls-verify=false"


def exe() -> str:
    return shutil.which("skillctl", path=str(Path(sys.executable).parent)) or "skillctl"


def on_terminal(*args: object) -> tuple[int, str]:
    """Run skillctl with a pseudo-terminal for stdout and stderr; what the terminal showed."""
    main, side = pty.openpty()
    proc = subprocess.Popen([exe(), *map(str, args)], stdin=subprocess.DEVNULL, stdout=side, stderr=side)
    os.close(side)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    return proc.wait(timeout=120), shown.decode(errors="replace")


def piped(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([exe(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


def summary(shown: str, what: str) -> str:
    """The last state of the line that starts with ``what`` (the status line is redrawn with CR)."""
    lines = [part for line in shown.split("\n") for part in line.split("\r") if part.strip()]
    found = [re.sub(r"\x1b\[K", "", line) for line in lines if re.sub(r"\x1b\[K", "", line).startswith(what)]
    assert found, f"no {what!r} line on the terminal:\n{shown}"
    return found[-1]


@pytest.fixture
def image(tmp_path: Path, registry: Registry) -> tuple[Path, str, str]:
    store = tmp_path / "store"
    skill = unique_skill(tmp_path / "src", "moving")
    (skill / "data" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible: 3 MB really move
    local = pack(skill, store=Store(store)).ref
    return store, local, f"{registry.repo('moving')}:1.0.0-draft"


def test_push_and_pull_show_blobs_and_bytes_and_end_with_a_summary(image: tuple[Path, str, str], tmp_path: Path):
    store, local, remote = image
    code, shown = on_terminal("--store", store, "push", local, remote, NO_TLS)
    assert code == 0, shown
    line = summary(shown, f"Pushing {remote}")
    assert re.fullmatch(rf"Pushing {re.escape(remote)}: 2 blobs, 3\.\d MB in \d+\.\d s(, .*/s)?", line), line

    code, shown = on_terminal("--store", tmp_path / "other", "pull", remote, NO_TLS, "-o", tmp_path / "out")
    assert code == 0, shown
    line = summary(shown, f"Pulling {remote}")
    assert re.fullmatch(rf"Pulling {re.escape(remote)}: 2 blobs, 3\.\d MB in \d+\.\d s(, .*/s)?", line), line
    assert "Pulled" in shown  # the command's own report follows the summary


def test_no_progress_in_a_pipe_in_json_or_quiet(image: tuple[Path, str, str], tmp_path: Path) -> None:
    store, local, remote = image
    result = piped("--store", store, "push", local, remote, NO_TLS)
    assert result.returncode == 0, result.stderr
    assert "Pushing" not in result.stdout + result.stderr and "\r" not in result.stderr
    for flags in (["--format", "json"], ["-q"]):
        code, shown = on_terminal("--store", tmp_path / f"s{len(flags)}", "pull", remote, NO_TLS, *flags)
        assert code == 0, shown
        assert "Pulling" not in shown and "\r\x1b[K" not in shown, shown


def test_save_load_mirror_and_collection_install_count_what_they_move(
    image: tuple[Path, str, str], tmp_path: Path, registry: Registry
) -> None:
    store, local, remote = image
    assert on_terminal("--store", store, "push", local, remote, NO_TLS)[0] == 0
    bundle = tmp_path / "bundle.tar"
    code, shown = on_terminal("--store", store, "save", local, "-o", bundle)
    assert code == 0, shown
    assert re.fullmatch(r"Saving bundle\.tar: 3 blobs, 3\.\d MB in .*", summary(shown, "Saving bundle.tar"))

    code, shown = on_terminal("--store", tmp_path / "loaded", "load", bundle)
    assert code == 0, shown
    line = summary(shown, "Loading bundle.tar into the store")
    assert re.fullmatch(r"Loading bundle\.tar into the store: 1 images, 3\.\d MB in .*", line), line

    destination = f"{registry.host}/mirrored{os.getpid()}"
    code, shown = on_terminal("mirror", remote.rsplit(":", 1)[0], destination, NO_TLS)
    assert code == 0, shown
    assert re.fullmatch(rf"Mirroring to {re.escape(destination)}: \d+ tags in .*", summary(shown, "Mirroring to"))

    collection = tmp_path / "collection.yaml"
    collection.write_text(
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCollection\nmetadata:\n  name: moving-set\n  version: 1.0.0\n"
        f"skills:\n  - name: moving\n    image: {remote}\n"
    )
    code, shown = on_terminal(
        "--store", tmp_path / "c", "collection", "install", "-f", collection, "-o", tmp_path / "skills", NO_TLS
    )  # fmt: skip
    assert code == 0, shown
    assert re.fullmatch(r"Installing moving-set: 1 skills in .*", summary(shown, "Installing moving-set")), shown
