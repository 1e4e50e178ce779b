"""What a container must see in a skill image volume, checked the same way at every level (podman, CRI, kubelet).

The expected tree is read from the skill directory itself (never from skillctl): every entry but the ones the test
names as left out, directories 0755, files 0755 if any exec bit is set and 0644 otherwise, each file by its sha256,
symlinks by their target. Inside the container one busybox shell walk prints the same shape, so a silently empty
mount, a missing or extra file, a changed byte, a lost exec bit or a rewritten link all show up in one comparison.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from subprocess import CompletedProcess

from conftest import EXAMPLES

Exec = Callable[[str], CompletedProcess]

# One line per entry below the mount: "<path>|D|<mode>", "<path>|F|<mode>|<sha256>" or "<path>|L|<target>".
TREE_SCRIPT = r"""
cd "$1" || exit 3
find . -mindepth 1 | sort | while IFS= read -r p; do
  if [ -L "$p" ]; then echo "$p|L|$(readlink "$p")"
  elif [ -d "$p" ]; then echo "$p|D|$(stat -c %a "$p")"
  else echo "$p|F|$(stat -c %a "$p")|$(sha256sum < "$p" | cut -d' ' -f1)"
  fi
done
"""

LOG = """\
2026-01-01T10:00:00Z INFO api: started
2026-01-01T10:00:01Z ERROR db: connection timeout
2026-01-01T10:00:02Z WARN api: slow response
2026-01-01T10:00:03Z ERROR db: connection timeout
2026-01-01T10:00:04Z ERROR db: deadlock detected
2026-01-01T10:00:05Z WARN api: slow response
2026-01-01T10:00:06Z ERROR cache: eviction storm
2026-01-01T10:00:07Z INFO api: stopped
"""
TRIAGE = """\
== counts by level and component
3 ERROR db
2 WARN api
1 ERROR cache
== first occurrence of each error
2026-01-01T10:00:01Z ERROR db: connection timeout
2026-01-01T10:00:04Z ERROR db: deadlock detected
2026-01-01T10:00:06Z ERROR cache: eviction storm
"""

# What the runtime skill adds to examples/log-triage, and what skillctl must leave out of its image.
LEFT_OUT = (".skillignore", ".notes", "scratch.log")


def runtime_skill(root: Path) -> Path:
    """A copy of examples/log-triage with every kind of entry a mount can get wrong, at ``root/log-triage``.

    Added: a binary file with every byte value, an empty file, a deep directory, a relative symlink; and files that
    must not reach the image: a hidden file and a ``*.log`` file (matched by the example's ``.skillignore``).
    """
    skill = root / "log-triage"
    shutil.copytree(EXAMPLES / "log-triage", skill)
    (skill / "data").mkdir()
    (skill / "data" / "bytes.bin").write_bytes(bytes(range(256)) * 64)
    (skill / "assets" / "empty.txt").write_bytes(b"")
    deep = skill / "references" / "deep" / "er"
    deep.mkdir(parents=True)
    (deep / "runbook.md").write_text("# Runbook\n\nRestart the pool, then page the owner.\n")
    (skill / "references" / "prompt.md").symlink_to("../SKILL.md")
    (skill / ".notes").write_text("private\n")
    (skill / "scratch.log").write_text(LOG)
    for path in skill.rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(0o755 if path.suffix == ".sh" else 0o644)
    return skill


def expected_tree(skill: Path, left_out: Iterable[str] = LEFT_OUT, *, under: str = "") -> dict[str, str]:
    """The tree a mount of ``skill`` (or of its sub-path ``under``) must show, in ``TREE_SCRIPT``'s shape."""
    skipped = set(left_out)
    top = skill / under
    tree: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            rel = path.relative_to(top).as_posix()
            if path.relative_to(skill).as_posix() in skipped:
                continue
            if path.is_symlink():
                tree[f"./{rel}"] = f"L|{os.readlink(path)}"
            elif path.is_dir():
                tree[f"./{rel}"] = "D|755"
            else:
                mode = "755" if path.stat().st_mode & 0o111 else "644"
                tree[f"./{rel}"] = f"F|{mode}|{hashlib.sha256(path.read_bytes()).hexdigest()}"
    return tree


def tree_in(run: Exec, mount: str) -> dict[str, str]:
    """The tree at ``mount`` inside a container, as ``TREE_SCRIPT`` prints it."""
    result = run(f"set -- {mount}\n{TREE_SCRIPT}")
    assert result.returncode == 0, f"walking {mount} failed ({result.returncode}): {result.stderr}"
    tree = {}
    for line in result.stdout.splitlines():
        path, _, rest = line.partition("|")
        tree[path] = rest
    return tree


def mount_options(run: Exec, mount: str) -> list[str]:
    """The per-mount options of ``mount`` in the container's mountinfo (``ro``, ``relatime``, ``noexec`` ...)."""
    result = run(f"grep ' {mount} ' /proc/self/mountinfo")
    assert result.returncode == 0, f"{mount} is not a mount point in the container: {result.stdout}{result.stderr}"
    (line,) = result.stdout.splitlines()
    return line.split()[5].split(",")


def run_triage(run: Exec, mount: str) -> CompletedProcess:
    """Write the sample log into the container and run the packaged script directly from the mount."""
    return run(f"printf '%s' '{LOG}' > /tmp/app.log && {mount}/scripts/triage.sh /tmp/app.log")
