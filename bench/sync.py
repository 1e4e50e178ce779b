"""Sync benchmark: ``skillctl sync`` of 50 skills from a lock next to 50 sequential ``skillctl install`` commands.

Method: one throwaway CNCF distribution registry (plain HTTP on loopback). The
runner packs 50 small skills (``bench/benchdata.py``'s small skill, each with a
file of its own so no two share a blob), pushes each as a published
``bench-sync/skill-NN:1.0.0`` (untimed), and writes a project: ``skills.yaml``
listing the 50 repositories (``^1.0.0``, target ``./skills``) and its
``skills.lock.yaml``, written by ``skillctl update`` (untimed). Each timed run
starts from nothing installed and an empty store (the store and the skills
directory are deleted between runs, outside the timing):

* skillctl: ``skillctl --store NEW sync --project P --tls-verify=false`` as one
  subprocess (4 images fetched at once, the default);
* baseline: 50 ``skillctl --store NEW install REGISTRY/bench-sync/skill-NN:1.0.0
  -o DIR --tls-verify=false`` subprocesses, one after the other, as a script
  without a lock would do it.

Both end with the same 50 skills installed (checked untimed: each skill's
receipt names the registry's digest). The two sides alternate, the order
flipping every run; median of 3 (``--quick``: 1 run of 10 skills). Goal: sync
takes at most a third of the baseline's time.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchdata import make_small_skill
from benchutil import Row, log, time_call
from transfer import Registry

NAMESPACE = "bench-sync"
GOAL = 1 / 3


@dataclass(frozen=True)
class SyncSizes:
    skills: int
    runs: int


FULL = SyncSizes(skills=50, runs=3)
QUICK = SyncSizes(skills=10, runs=1)


def _seed(work: Path, reg: Registry, sizes: SyncSizes) -> list[str]:
    """Publish the skills; the repository references."""
    from skillctl import Store, pack
    from skillctl.backends.base import RegistryOptions
    from skillctl.lifecycle.promote import with_status
    from skillctl.registry import transfer

    opts = RegistryOptions(tls_verify=False, timeout=600)
    store = Store(work / "sync-publisher")
    repos = []
    for i in range(sizes.skills):
        name = f"skill-{i:02d}"
        root = make_small_skill(work / "sync-skills" / name, name=name)
        (root / "NOTES.md").write_text(f"# {name}\n\nA skill of its own.\n")
        repo = f"{reg.host}/{NAMESPACE}/{name}"
        manifest = with_status(pack(root, store=store, tag=f"{repo}:1.0.0-draft").manifest, "published")
        with store.writing():
            store.put_blob(manifest.raw)
            store.set_tag(f"{repo}:1.0.0", manifest.descriptor, dict(manifest.annotations))
        transfer.push(f"{repo}:1.0.0", store=store, backend="skopeo", opts=opts)
        repos.append(repo)
    return repos


def _skillctl() -> str:
    return str(Path(sys.executable).parent / "skillctl")


def _check(skills: Path, digests: dict[str, str]) -> None:
    for repo, digest in digests.items():
        name = repo.rsplit("/", 1)[-1]
        receipt = json.loads((skills / ".skillimage" / "receipts" / f"{name}.json").read_text())
        if receipt["digest"] != digest:
            raise RuntimeError(f"bench: {name} installed {receipt['digest']}, expected {digest}")


def run_sync(work: Path, sizes: SyncSizes, notes: list[str]) -> list[Row]:
    if not shutil.which("skopeo"):
        log("sync: skopeo is not installed; skipped")
        return []
    exe = _skillctl()
    with Registry(work / "sync-registry", set()) as reg:
        log(f"sync: publishing {sizes.skills} skills")
        repos = _seed(work, reg, sizes)
        project = work / "sync-project"
        project.mkdir()
        lines = "".join(f"- repository: {r}\n  version: ^1.0.0\n" for r in repos)
        (project / "skills.yaml").write_text(
            f"apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: ./skills\nskills:\n{lines}"
        )
        subprocess.run(
            [exe, "--store", str(work / "sync-lock-store"), "update", "--project", str(project), "--tls-verify=false"],
            check=True,
            capture_output=True,
        )
        lock = json.loads(
            subprocess.run(
                [exe, "--store", str(work / "sync-lock-store"), "sync", "--project", str(project),
                 "--tls-verify=false", "--format", "json"],
                check=True, capture_output=True, text=True,
            ).stdout
        )  # fmt: skip
        digests = {s["repository"]: s["digest"] for s in lock["skills"]}
        skills = project / "skills"
        baseline_dir = work / "sync-baseline-skills"

        def clean() -> None:
            for path in (skills, baseline_dir, work / "sync-store-a", work / "sync-store-b"):
                shutil.rmtree(path, ignore_errors=True)

        def ours() -> None:
            subprocess.run(
                [exe, "--store", str(work / "sync-store-a"), "sync", "--project", str(project), "--tls-verify=false"],
                check=True,
                stdout=subprocess.DEVNULL,
            )

        def baseline() -> None:
            for repo in repos:
                subprocess.run(
                    [exe, "--store", str(work / "sync-store-b"), "install", f"{repo}:1.0.0", "-o", str(baseline_dir),
                     "--tls-verify=false"],
                    check=True, stdout=subprocess.DEVNULL,
                )  # fmt: skip

        sync_times: list[float] = []
        install_times: list[float] = []
        clean()
        ours()  # warm-up: page cache, registry; not counted
        clean()
        for i in range(sizes.runs):
            pair = [(ours, sync_times, skills), (baseline, install_times, baseline_dir)]
            for fn, times, where in pair if i % 2 == 0 else reversed(pair):
                clean()
                times.append(time_call(fn))
                _check(where, digests)
            log(f"sync run {i + 1}/{sizes.runs}: sync {sync_times[-1]:.2f} s, installs {install_times[-1]:.2f} s")
        clean()
    median, base = statistics.median(sync_times), statistics.median(install_times)
    notes.append(
        f"sync: {sizes.skills} small skills from a lock, fresh store and nothing installed each run; runs: sync "
        + ", ".join(f"{t:.2f}" for t in sync_times)
        + " s; sequential installs "
        + ", ".join(f"{t:.2f}" for t in install_times)
        + " s."
    )
    return [
        Row(
            what=f"`sync` of {sizes.skills} skills from a lock (median of {sizes.runs})",
            skillctl=median,
            baseline=base,
            baseline_what=f"{sizes.skills} sequential `skillctl install`",
            goal="≤ 0.33x",
            passed=median / base <= GOAL,
        )
    ]
