"""``skillctl sync`` under faults: killed at many moments, two at once, the registry going away mid-sync.

Each test publishes its own skills (1.0.0 and 1.1.0 of each, different files) and drives the installed
console script as a subprocess, the way a user or a CI job runs it.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lock_helpers import NO_TLS, OPTS, ok, publish, run, skill_source
from registry import Registry, start_registry

from skillctl import Store
from skillctl.backends.base import RegistryOptions
from skillctl.consume.install import read_receipt
from skillctl.consume.lock import load_lock

pytestmark = pytest.mark.integration

EXE = Path(sys.executable).parent / "skillctl"


def publish_set(registry: Registry, root: Path, count: int, opts: RegistryOptions = OPTS) -> tuple[str, list[str]]:
    """``count`` skills in one new namespace, each with 1.0.0 and 1.1.0; (namespace, names)."""
    namespace = f"kf{secrets.token_hex(3)}"
    store = Store(root / "publisher")
    names = [f"s{i:02d}" for i in range(count)]
    for name in names:
        for version in ("1.0.0", "1.1.0"):
            src = skill_source(root / "src", name, version)
            (src / "data" / "pad.txt").write_text(f"{name} {version}\n" * 2000)  # a little weight per skill
            publish(store, f"{registry.host}/{namespace}/{name}", src, version, opts=opts)
    return namespace, names


def manifest_text(registry: Registry, namespace: str, names: list[str], version: str) -> str:
    skills = "".join(f"- repository: {registry.host}/{namespace}/{n}\n  version: '{version}'\n" for n in names)
    return f"apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: ./skills\nskills:\n{skills}"


def two_locks(registry: Registry, tmp_path: Path, namespace: str, names: list[str]) -> tuple[bytes, bytes]:
    """The lock of every skill at 1.0.0 and at 1.1.0 (ranges ^1.0.0 both), written by skillctl."""
    locks = []
    for version in ("1.0.0", "1.1.0"):
        where = tmp_path / f"lock-{version}"
        where.mkdir()
        (where / "skills.yaml").write_text(manifest_text(registry, namespace, names, version))
        ok(run(tmp_path / "lock-store", "update", "--project", where, NO_TLS))
        text = (where / "skills.lock.yaml").read_text()
        locks.append(text.replace(f"requested: {version}", "requested: ^1.0.0").encode())
    return locks[0], locks[1]


def versions_on_disk(skills: Path, names: list[str]) -> dict[str, str | None]:
    """name -> the version the installed files say (None: missing); each skill must be whole."""
    found: dict[str, str | None] = {}
    for name in names:
        path = skills / name
        if not path.exists():
            found[name] = None
            continue
        version = (path / "VERSION").read_text().split()[1]
        expected_pad = f"{name} {version}\n" * 2000
        assert (path / "data" / "pad.txt").read_text() == expected_pad, f"{name}: a mix of versions"
        assert sorted(p.name for p in path.iterdir()) == ["SKILL.md", "VERSION", "data", "scripts", "skill.yaml"]
        receipt = read_receipt(skills, name)
        assert receipt is not None and receipt.version == version, f"{name}: receipt {receipt} for files {version}"
        found[name] = version
    return found


def start_sync(store: Path, project: Path, *extra: str) -> subprocess.Popen[bytes]:
    argv = [str(EXE), "--store", str(store), "sync", "--project", str(project), NO_TLS, *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_until(condition, proc: subprocess.Popen[bytes], limit: float = 60) -> bool:  # type: ignore[no-untyped-def]
    """True when ``condition`` held before the process ended."""
    deadline = time.monotonic() + limit
    while proc.poll() is None:
        if condition():
            return True
        assert time.monotonic() < deadline, "sync neither progressed nor finished"
        time.sleep(0.002)
    return condition()


def test_killed_sync_leaves_every_skill_old_or_new(registry: Registry, tmp_path: Path) -> None:
    """SIGKILL ``sync`` (1.0.0 -> 1.1.0 of 8 skills) while it fetches and after 1, 3 and 7 skills were replaced."""
    assert EXE.is_file()
    namespace, names = publish_set(registry, tmp_path, 8)
    old_lock, new_lock = two_locks(registry, tmp_path, namespace, names)
    project = tmp_path / "project"
    project.mkdir()
    (project / "skills.yaml").write_text(manifest_text(registry, namespace, names, "^1.0.0"))
    skills = project / "skills"
    lock = project / "skills.lock.yaml"

    def upgraded() -> int:
        count = 0
        for name in names:
            with contextlib.suppress(OSError, IndexError):
                count += (skills / name / "VERSION").read_text().split()[1] == "1.1.0"
        return count

    moments: list[tuple[str, object]] = [("fetching", 0.0), ("fetching", 0.25), ("upgraded", 1), ("upgraded", 3)]
    moments += [("upgraded", 7)]
    seen = []
    for i, (how, arg) in enumerate(moments):
        store = tmp_path / f"store-{i}"  # a new store each time: every run really fetches
        lock.write_bytes(old_lock)
        ok(run(store, "sync", "--project", project, NO_TLS))
        assert set(versions_on_disk(skills, names).values()) == {"1.0.0"}
        lock.write_bytes(new_lock)
        proc = start_sync(store, project, "-j", "1")
        try:
            if how == "fetching":
                wait_until(lambda s=store: (s / "index.json").exists(), proc)
                time.sleep(float(arg))  # type: ignore[arg-type]
            else:
                wait_until(lambda n=arg: upgraded() >= n, proc)  # type: ignore[operator]
            proc.send_signal(signal.SIGKILL)
        finally:
            code = proc.wait(timeout=60)
        state = versions_on_disk(skills, names)  # asserts each skill is whole, receipt and files agree
        assert set(state.values()) <= {"1.0.0", "1.1.0"}, state
        assert lock.read_bytes() == new_lock  # sync does not rewrite a lock that fits the manifest
        seen.append((how, arg, code, sum(v == "1.1.0" for v in state.values())))
        # The next sync finishes the job.
        ok(run(store, "sync", "--project", project, NO_TLS))
        assert set(versions_on_disk(skills, names).values()) == {"1.1.0"}
        ok(run(store, "sync", "--check", "--project", project, NO_TLS))
        assert sorted(p.name for p in skills.iterdir() if not p.name.startswith(".")) == names
    killed = [row for row in seen if row[2] == -signal.SIGKILL]
    # The kills landed: some with nothing replaced yet, some part way through.
    assert any(n == 0 for *_, n in killed), seen
    assert any(0 < n < len(names) for *_, n in killed), seen


def test_two_syncs_at_once_take_turns(registry: Registry, tmp_path: Path) -> None:
    namespace, names = publish_set(registry, tmp_path, 6)
    _, lock_bytes = two_locks(registry, tmp_path, namespace, names)
    project = tmp_path / "project"
    project.mkdir()
    (project / "skills.yaml").write_text(manifest_text(registry, namespace, names, "^1.0.0"))
    (project / "skills.lock.yaml").write_bytes(lock_bytes)
    store = tmp_path / "store"
    procs = [start_sync(store, project), start_sync(store, project)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    installed_lines = [out.decode().count("Installed ") for out, _ in outputs]
    assert sorted(installed_lines) == [0, len(names)], outputs  # one installed everything, the other found it done
    assert (project / "skills.lock.yaml").read_bytes() == lock_bytes
    assert set(versions_on_disk(project / "skills", names).values()) == {"1.1.0"}
    ok(run(store, "sync", "--check", "--project", project, NO_TLS))


def test_two_adds_at_once_both_land(registry: Registry, tmp_path: Path) -> None:
    namespace, names = publish_set(registry, tmp_path, 2)
    project = tmp_path / "project"
    project.mkdir()
    (project / "skills.yaml").write_text(manifest_text(registry, namespace, [], "^1"))
    procs = [
        subprocess.Popen(
            [str(EXE), "--store", str(tmp_path / "store"), "add", f"{registry.host}/{namespace}/{name}", NO_TLS,
             "--project", str(project)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for name in names
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    lock = load_lock(project / "skills.lock.yaml")
    assert lock is not None and sorted(lock.skills) == names
    assert all(s.version == "1.1.0" and s.requested == "^1.1.0" for s in lock.skills.values())
    text = (project / "skills.yaml").read_text()
    assert all(f"/{namespace}/{n}\n" in text for n in names)
    assert set(versions_on_disk(project / "skills", names).values()) == {"1.1.0"}


def test_registry_down_mid_sync_touches_nothing(tmp_path: Path) -> None:
    """The registry stops while sync fetches: exit 7, every skill still old; back up, the next sync finishes."""
    reg = start_registry(tmp_path / "registry")
    try:
        namespace, names = publish_set(reg, tmp_path, 10)
        old_lock, new_lock = two_locks(reg, tmp_path, namespace, names)
        project = tmp_path / "project"
        project.mkdir()
        (project / "skills.yaml").write_text(manifest_text(reg, namespace, names, "^1.0.0"))
        lock = project / "skills.lock.yaml"
        lock.write_bytes(old_lock)
        ok(run(tmp_path / "old-store", "sync", "--project", project, NO_TLS))
        before = {p: p.read_bytes() for p in (project / "skills").rglob("*") if p.is_file()}
        lock.write_bytes(new_lock)

        store = tmp_path / "store"
        proc = start_sync(store, project, "-j", "1")

        def fetched_some() -> bool:
            index = store / "index.json"
            return index.exists() and index.read_text().count("@sha256:") >= 3

        assert wait_until(fetched_some, proc), proc.communicate()
        reg.stop()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 7, err.decode()
        assert err.decode().startswith("Error: ") and "Traceback" not in err.decode()
        assert {p: p.read_bytes() for p in (project / "skills").rglob("*") if p.is_file()} == before
        assert lock.read_bytes() == new_lock
        assert set(versions_on_disk(project / "skills", names).values()) == {"1.0.0"}

        # The same registry (same port and storage) comes back; sync completes.
        reg.process = subprocess.Popen(
            ["docker-registry", "serve", str(reg.root / "config.yml")],
            stdout=(reg.root / "registry-2.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if reg.request("GET", "/v2/", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the registry did not come back"
            time.sleep(0.05)
        result = ok(run(store, "sync", "--project", project, NO_TLS))
        assert result.stdout.count("Upgraded ") == len(names)
        assert set(versions_on_disk(project / "skills", names).values()) == {"1.1.0"}
    finally:
        reg.stop()
        shutil.rmtree(tmp_path / "registry", ignore_errors=True)
