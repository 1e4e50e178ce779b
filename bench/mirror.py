"""Mirror benchmark: ``skillctl.airgap.mirror.mirror`` next to ``skopeo sync`` copying the same 100 skill versions.

Method: one throwaway CNCF distribution registry is the source. The runner packs
10 small skills x 10 versions (``bench/benchdata.py``'s small skill, each version
its own content, so no two versions share a blob) and pushes them once, untimed,
as ``SRC/bench/skill-NN:1.0.V``. Each timed run copies all 100 tags into a
destination registry started for that run alone (new port, empty storage:
skopeo's blob-info cache, keyed by ``host:port``, has nothing to mount from):

* skillctl: ``mirror([SRC/bench/skill-00, ...], DEST, workers=4, backend="skopeo")``,
  in-process (the library call the CLI makes);
* baseline: ``skopeo sync --src yaml --dest docker --dest-tls-verify=false
  --preserve-digests SYNC.yaml DEST/bench``, the YAML listing the 10 repositories
  with all their tags (``images: {bench/skill-NN: []}``) and ``tls-verify: false``.

Both put ``bench/skill-NN:1.0.V`` on the destination. After each run (untimed)
the destination is read back over HTTP: every tag present with the source's
digest. The two sides alternate, the order flipping every run; median of 5
(``--quick``: 1, with 3 x 3 versions). Starting and stopping registries is not
timed. An information row follows: a second mirror onto the now complete
destination (skillctl lists and reads both sides and skips every tag; skopeo
sync reads each destination manifest and prints "Skipping: image already present
at destination"). The notes give the CPU time of each side (this process and
the tools it ran; not the registries) and where skillctl's time goes, from
timers around every tool it runs (summed over its parallel workers).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchdata import make_small_skill
from benchutil import Row, log, time_call
from transfer import _ACCEPT_ALL, _POLICY, Registry

GOAL_RATIO = 1.0
WORKERS = 4
NAMESPACE = "bench"
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


@dataclass(frozen=True)
class MirrorSizes:
    repos: int
    versions: int
    runs: int


FULL = MirrorSizes(repos=10, versions=10, runs=5)
QUICK = MirrorSizes(repos=3, versions=3, runs=1)


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


def registry_digests(host: str, repos: list[str]) -> dict[str, str]:
    """``repo:tag`` -> digest, for every tag of ``repos`` (paths) on ``host``, read over HTTP."""
    import hashlib

    opener = _opener()
    found: dict[str, str] = {}
    for repo in repos:
        try:
            with opener.open(f"http://{host}/v2/{repo}/tags/list", timeout=30) as resp:
                tags = json.loads(resp.read()).get("tags") or []
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                continue
            raise
        for tag in tags:
            req = urllib.request.Request(
                f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
            )
            with opener.open(req, timeout=30) as resp:
                found[f"{repo}:{tag}"] = "sha256:" + hashlib.sha256(resp.read()).hexdigest()
    return found


@contextlib.contextmanager
def _cpu(into: list[float] | None) -> Iterator[None]:
    """CPU seconds (user + system) of this process and of the tools it ran and reaped, appended to ``into``."""
    import resource

    def now() -> float:
        return sum(
            getattr(resource.getrusage(who), field)
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
            for field in ("ru_utime", "ru_stime")
        )

    start = now()
    yield
    if into is not None:
        into.append(now() - start)


def _sync(argv: list[str]) -> None:
    """Run ``skopeo sync`` with its progress log (stdout and stderr) captured; shown only if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench: {' '.join(argv)} failed:\n{done.stderr[-2000:]}")


def _seed(work: Path, reg: Registry, sizes: MirrorSizes) -> tuple[list[str], dict[str, str]]:
    """Pack and push repos x versions small skills; returns the repository paths and what the source holds."""
    from skillctl import Store, pack
    from skillctl.backends.base import RegistryOptions
    from skillctl.registry import transfer

    opts = RegistryOptions(tls_verify=False, timeout=600)
    store = Store(work / "mirror-source-store")
    repos = [f"{NAMESPACE}/skill-{r:02d}" for r in range(sizes.repos)]
    images = []
    for r, repo in enumerate(repos):
        for v in range(sizes.versions):
            root = make_small_skill(work / "mirror-skills" / f"{r:02d}-{v:02d}", name=f"skill-{r:02d}")
            card = root / "skill.yaml"
            card.write_text(card.read_text().replace("version: 1.0.0", f"version: 1.0.{v}"))
            (root / "NOTES.md").write_text(f"# {repo} 1.0.{v}\n\nA version of its own.\n")
            images.append((pack(root, store=store).ref, f"{reg.host}/{repo}:1.0.{v}"))

    def push(item: tuple[str, str]) -> None:
        transfer.push(item[0], item[1], store=store, backend="skopeo", opts=opts)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(push, images))
    source = registry_digests(reg.host, repos)
    if len(source) != sizes.repos * sizes.versions:
        raise RuntimeError(f"bench: the source registry holds {len(source)} tags, expected {len(images)}")
    return repos, source


class ToolTimes:
    """Count and time every tool skillctl runs, by subcommand (summed over threads)."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from skillctl.core import proc

        real = proc.run

        def timed(argv: Any, *args: Any, **kwargs: Any) -> Any:
            words = [str(a) for a in argv]
            label = f"{Path(words[0]).name} {next((w for w in words[1:] if not w.startswith('-')), '')}"
            start = time.perf_counter()
            try:
                return real(argv, *args, **kwargs)
            finally:
                with self._lock:
                    self.calls[label] += 1
                    self.seconds[label] += time.perf_counter() - start

        proc.run = timed  # type: ignore[assignment]
        try:
            yield
        finally:
            proc.run = real  # type: ignore[assignment]

    def summary(self) -> str:
        return "; ".join(
            f"`{label}` x{self.calls[label]} = {self.seconds[label]:.2f} s "
            f"({self.seconds[label] / self.calls[label] * 1000:.0f} ms each)"
            for label in sorted(self.seconds, key=self.seconds.get, reverse=True)  # type: ignore[arg-type]
        )


def run_mirror(work: Path, sizes: MirrorSizes, notes: list[str]) -> list[Row]:
    """Time skillctl's mirror and ``skopeo sync`` on the same set; one goal row and two information rows."""
    import shutil

    from skillctl.airgap.mirror import mirror
    from skillctl.backends.base import RegistryOptions

    if not shutil.which("skopeo"):
        log("mirror: skopeo is not installed; skipped")
        return []
    opts = RegistryOptions(tls_verify=False, timeout=600)
    ports: set[int] = set()
    total = sizes.repos * sizes.versions
    policy: list[str] = []
    if not _POLICY.exists():
        policy_file = work / "mirror-policy.json"
        policy_file.write_text(_ACCEPT_ALL)
        policy = [f"--policy={policy_file}"]

    with Registry(work / "mirror-src", ports) as src:
        log(f"mirror: packing and pushing {sizes.repos} x {sizes.versions} skill versions to {src.host}")
        start = time.perf_counter()
        repos, source = _seed(work, src, sizes)
        seeded = time.perf_counter() - start
        sources = [f"{src.host}/{repo}" for repo in repos]
        sync_yaml = work / "mirror-sync.yaml"
        sync_yaml.write_text(
            f"{src.host}:\n  tls-verify: false\n  images:\n" + "".join(f"    {repo}: []\n" for repo in repos)
        )
        sync_argv = [
            "skopeo", *policy, "sync", "--src", "yaml", "--dest", "docker", "--dest-tls-verify=false",
            "--preserve-digests", str(sync_yaml),
        ]  # fmt: skip

        def check(dest: Registry, what: str) -> None:
            arrived = registry_digests(dest.host, repos)
            if arrived != source:
                missing = sorted(set(source) - set(arrived))[:3]
                raise RuntimeError(f"bench: {what} left {dest.host} different from the source (e.g. {missing})")

        cpu: dict[str, list[float]] = {"skillctl": [], "skopeo sync": []}

        def ours(dest: Registry, tools: ToolTimes | None = None) -> tuple[float, Any]:
            results = []
            with tools.installed() if tools else contextlib.nullcontext(), _cpu(cpu["skillctl"] if tools else None):
                elapsed = time_call(
                    lambda: results.append(mirror(sources, dest.host, backend="skopeo", opts=opts, workers=WORKERS))
                )
            return elapsed, results[0]

        def bare(dest: Registry, count: bool = True) -> float:
            with _cpu(cpu["skopeo sync"] if count else None):
                return time_call(lambda: _sync([*sync_argv, f"{dest.host}/{NAMESPACE}"]))

        # Warm-up (not counted): imports, page cache, both tools once on a small destination.
        with Registry(work / "mirror-warm", ports) as dest:
            mirror(sources[:1], dest.host, backend="skopeo", opts=opts, workers=WORKERS)
            _sync([*sync_argv, f"{dest.host}/warm"])

        times: dict[str, list[float]] = {"skillctl": [], "skopeo sync": []}
        rerun: dict[str, list[float]] = {"skillctl": [], "skopeo sync": []}
        tools = ToolTimes()
        for i in range(sizes.runs):
            order: list[tuple[str, Callable[[Registry], float]]] = [
                ("skillctl", lambda d: ours(d, tools)[0]),
                ("skopeo sync", bare),
            ]
            for name, fn in order if i % 2 == 0 else list(reversed(order)):
                with Registry(work / f"mirror-dest-{i}-{name.replace(' ', '-')}", ports) as dest:
                    elapsed = fn(dest)
                    check(dest, name)
                    times[name].append(elapsed)
                    if name == "skillctl":
                        again, result = ours(dest)
                        if result.count("skipped") != total:
                            raise RuntimeError(f"bench: the second mirror skipped {result.count('skipped')} of {total}")
                    else:
                        again = bare(dest, count=False)
                    rerun[name].append(again)
                    log(f"mirror run {i + 1}/{sizes.runs} {name}: {elapsed:.2f} s (again: {again:.2f} s)")

    ours_median, bare_median = statistics.median(times["skillctl"]), statistics.median(times["skopeo sync"])
    notes.append(
        f"mirror input: {sizes.repos} repositories x {sizes.versions} versions = {total} tags of small skills "
        f"(each about 0.5 KB, no shared blobs), pushed once in {seeded:.1f} s. Runs: skillctl "
        + ", ".join(f"{t:.2f}" for t in times["skillctl"])
        + " s; skopeo sync "
        + ", ".join(f"{t:.2f}" for t in times["skopeo sync"])
        + " s. CPU time (user + system, the tools included; registries not): skillctl "
        + ", ".join(f"{t:.2f}" for t in cpu["skillctl"])
        + " s; skopeo sync "
        + ", ".join(f"{t:.2f}" for t in cpu["skopeo sync"])
        + f" s. skillctl with {WORKERS} workers, each copy one `skopeo copy` process; where its time went "
        f"(over {sizes.runs} runs, summed over workers): {tools.summary()}."
    )
    return [
        Row(
            what=f"`mirror` of {total} skill versions ({sizes.repos} repos, {WORKERS} workers; median of {sizes.runs})",
            skillctl=ours_median,
            baseline=bare_median,
            baseline_what="`skopeo sync --src yaml`",
            goal=f"≤ {GOAL_RATIO}x",
            passed=ours_median / bare_median <= GOAL_RATIO,
        ),
        Row(
            what=f"`mirror` again onto the complete destination ({total} tags already there)",
            skillctl=statistics.median(rerun["skillctl"]),
            baseline=statistics.median(rerun["skopeo sync"]),
            baseline_what="`skopeo sync` again",
            goal="-",
            passed=True,
            info=True,
        ),
    ]
