"""Promotion benchmark: a remote ``promote`` draft -> testing of a 1 KB and of a 100 MiB skill.

A promotion rewrites one annotation and moves a tag; it uploads no blob, so its
time must not depend on the skill's size. The goal compares the two: the median
time for the 100 MiB skill over the median for the 1 KB skill, at most 1.2x.

Method: one throwaway CNCF distribution registry (plain HTTP, loopback, started
and stopped by the runner). Both skills are packed once (``bench/benchdata.py``,
fixed seed). For every run, each skill is first pushed (skopeo, untimed) as
``1.0.0-draft`` to a repository no run has used, so no promotion finds work
already done; then ``skillctl.lifecycle.promote.promote(REF, "testing")`` is timed
in-process through the skopeo and through the crane backend. The two sizes
alternate, the order flipping every run; 5 (``--quick``: 2) runs each, median.
One untimed promotion per backend warms up imports and the tools' caches.
After each timed run the registry is read back over HTTP (untimed): the new tag
must carry the testing status and the draft's layer digest.
"""

from __future__ import annotations

import json
import statistics
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchdata import MiB, make_big_skill, make_small_skill
from benchutil import Row, log, time_call
from transfer import Registry

GOAL_RATIO = 1.2
BACKENDS = ("skopeo", "crane")
MANIFEST_ACCEPT = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class PromoteSizes:
    big_bytes: int
    runs: int


FULL = PromoteSizes(big_bytes=100 * MiB, runs=5)
QUICK = PromoteSizes(big_bytes=5 * MiB, runs=2)


@dataclass
class Skill:
    label: str
    store: Any
    ref: str
    layer_digest: str
    layer_size: int


def _read_manifest(host: str, repo_path: str, tag: str) -> dict[str, Any]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(f"http://{host}/v2/{repo_path}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT})
    with opener.open(req, timeout=30) as resp:
        return json.loads(resp.read())


def _prepare(work: Path, sizes: PromoteSizes) -> list[Skill]:
    from skillctl import Store, pack

    skills = []
    for label, make in (
        ("1 KB", lambda root: make_small_skill(root, name="bench-promote-small")),
        (
            f"{sizes.big_bytes / MiB:.0f} MiB",
            lambda root: make_big_skill(root, sizes.big_bytes, name="bench-promote-big"),
        ),
    ):
        root = work / f"promote-skill-{len(skills)}"
        make(root)
        store = Store(work / f"promote-store-{len(skills)}")
        result = pack(root, store=store)
        layer = store.manifest(result.digest).layers[0]
        skills.append(Skill(label, store, result.ref, layer.digest, layer.size))
        log(f"promote input {label}: layer {layer.size:,} bytes, {result.ref}")
    return skills


def run_promote(work: Path, sizes: PromoteSizes, notes: list[str]) -> list[Row]:
    """Time remote promotions of both skills through each byte-exact backend; one row per backend."""
    import shutil

    from skillctl.backends.base import RegistryOptions
    from skillctl.lifecycle.promote import promote
    from skillctl.registry import transfer

    opts = RegistryOptions(tls_verify=False, timeout=600)
    skills = _prepare(work, sizes)
    backends = [b for b in BACKENDS if shutil.which(b)]
    counter = iter(range(1_000_000))
    rows: list[Row] = []
    with Registry(work / "promote-registry", set()) as reg:

        def fresh_draft(skill: Skill) -> tuple[str, str]:
            path = f"bench/promote-{next(counter)}"
            ref = f"{reg.host}/{path}:1.0.0-draft"
            transfer.push(skill.ref, ref, store=skill.store, backend="skopeo", opts=opts)
            return ref, path

        def timed(backend: str, skill: Skill) -> float:
            ref, path = fresh_draft(skill)
            results = []
            elapsed = time_call(lambda: results.append(promote(ref, "testing", backend=backend, opts=opts)))
            manifest = _read_manifest(reg.host, path, "1.0.0-testing")
            if (
                not results[0].wrote
                or manifest["annotations"]["io.skillimage.status"] != "testing"
                or manifest["layers"][0]["digest"] != skill.layer_digest
            ):
                raise RuntimeError(f"bench: promotion of {ref} through {backend} did not produce the testing manifest")
            return elapsed

        for backend in backends:
            timed(backend, skills[0])  # warm-up, not counted
        for backend in backends:
            times: dict[str, list[float]] = {s.label: [] for s in skills}
            for i in range(sizes.runs):
                for skill in skills if i % 2 == 0 else reversed(skills):
                    times[skill.label].append(timed(backend, skill))
            small, big = skills
            ratio_median = statistics.median(times[big.label]) / statistics.median(times[small.label])
            log(f"promote {backend}: {big.label} / {small.label} = {ratio_median:.2f}x")
            notes.append(
                f"promote through {backend}: "
                + "; ".join(
                    f"{s.label} " + ", ".join(f"{t * 1000:.0f}" for t in times[s.label]) + " ms" for s in skills
                )
                + "."
            )
            rows.append(
                Row(
                    what=f"remote `promote` draft→testing, {big.label} skill, {backend} (median of {sizes.runs})",
                    skillctl=statistics.median(times[big.label]),
                    baseline=statistics.median(times[small.label]),
                    baseline_what=f"same, {small.label} skill",
                    goal=f"≤ {GOAL_RATIO}x",
                    passed=ratio_median <= GOAL_RATIO,
                    unit="ms",
                )
            )
    notes.append(
        f"promote inputs: {skills[0].label} skill (layer {skills[0].layer_size:,} bytes) and {skills[1].label} skill "
        f"(layer {skills[1].layer_size:,} bytes); each run promotes a fresh repository's 1.0.0-draft (pushed untimed)."
    )
    if not backends:
        log("promote: neither skopeo nor crane is installed; skipped")
    return rows
