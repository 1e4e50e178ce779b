"""Catalog benchmark: ``skillctl serve`` over 10,000 skill versions in a real registry.

Method: the runner starts a throwaway CNCF distribution registry and writes
1,000 repositories (``bench/skill-NNNN``) of 10 tags each straight through the
registry API (untimed): one small layer and config uploaded once and mounted
into every repository, then 10 manifests per repository that differ in their
annotations (title, a description of 12 words drawn from a fixed 300-word
vocabulary with a fixed seed, version, state, 1-3 skill tags of 20). Then:

* **initial sync**: ``skillctl serve --registry HOST/bench --tls-verify=false
  --port 0`` as a subprocess (in-memory index); the time from start until
  ``/readyz`` says ready, and the server's own figure for the sync.
* **unchanged sync**: ``POST /api/v1/sync`` on the same server and wait until it
  finished: its duration (the server's) and every HTTP request it made to the
  registry, from ``/metrics`` (``skillctl_catalog_registry_requests_total``,
  counted by the catalog's registry session itself), before and after. Goal:
  one tag-list request per repository and nothing else (the catalog listing of
  1,000 repositories adds one page request).
* **search latency**: ``bench/catalog_load.py`` (one asyncio loop, its own process): 1 client x
  400 requests, then 50 clients x 40 requests, each client on its own kept-alive
  connection, against ``GET /api/v1/skills`` with a fixed mix of queries
  (substring searches of one or two words, state and tag filters, pages), in the
  API's default order (Go's: by name); then 50 clients x 40 more distinct ones
  with every text search ranked (``sort=relevance``, the web UI's order; info).
  Latency = request sent to last byte read, measured in the client. Goal: p95
  < 50 ms at 50 clients. The load generator shares the 2 cores with the server,
  so its own time is in the numbers.
* **resident memory** of the server process after all that (``VmRSS`` and the
  peak ``VmHWM`` from ``/proc``). Goal: < 200 MB.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchutil import Row, log
from transfer import Registry

BENCH_DIR = Path(__file__).resolve().parent
NAMESPACE = "bench"
STATES = ("published", "published", "published", "deprecated", "testing", "draft")


@dataclass(frozen=True)
class CatalogSizes:
    repos: int
    tags: int
    single_requests: int
    clients: int
    requests_per_client: int


FULL = CatalogSizes(repos=1000, tags=10, single_requests=400, clients=50, requests_per_client=40)
QUICK = CatalogSizes(repos=50, tags=4, single_requests=50, clients=10, requests_per_client=10)


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < 300:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 9))))
    return sorted(words)


class Writer:
    """Registry API writes on one kept-alive connection per thread."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.local = threading.local()

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, timeout=60)
        conn.request(method, path, body=body, headers={"Content-Length": str(len(body)), **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, response.headers, data


def _sha(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def seed(reg: Registry, sizes: CatalogSizes) -> list[str]:
    """Write the repositories and tags; returns the query paths the load generator will use."""
    import gzip
    import io
    import tarfile

    from skillctl.core import oci

    rng = random.Random(19)
    words = _vocabulary(rng)
    topics = [f"topic-{i}" for i in range(20)]
    raw_tar = io.BytesIO()
    with tarfile.open(fileobj=raw_tar, mode="w") as tar:
        data = b"---\nname: bench\ndescription: A benchmark skill.\n---\n\n# Bench\n"
        info = tarfile.TarInfo("SKILL.md")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw_tar.getvalue(), mtime=0)
    config = oci.build_config(_sha(raw_tar.getvalue()))
    writer = Writer(reg.host)
    first = f"{NAMESPACE}/skill-0000"
    for blob in (layer, config):
        status, headers, _ = writer.request("POST", f"/v2/{first}/blobs/uploads/")
        location = urllib.parse.urlsplit(headers["Location"])
        query = [*urllib.parse.parse_qsl(location.query), ("digest", _sha(blob))]
        status, _, body = writer.request(
            "PUT",
            location.path + "?" + urllib.parse.urlencode(query),
            blob,
            {"Content-Type": "application/octet-stream"},
        )
        assert status == 201, (status, body)
    config_desc = oci.Descriptor(oci.CONFIG_V1, _sha(config), len(config))
    layer_desc = oci.Descriptor(oci.LAYER_TAR_GZIP, _sha(layer), len(layer))
    plan = []
    for r in range(sizes.repos):
        name = f"skill-{r:04d}"
        for t in range(sizes.tags):
            state = STATES[(r + t) % len(STATES)]
            version = f"{1 + t // 5}.{t % 5}.0"
            tag = {"draft": f"{version}-draft", "testing": f"{version}-testing"}.get(state, version)
            description = " ".join(rng.choice(words) for _ in range(12))
            tags = sorted(rng.sample(topics, rng.randint(1, 3)))
            plan.append((name, tag, version, state, description, tags))

    def put_repo(r: int) -> None:
        name = f"skill-{r:04d}"
        path = f"{NAMESPACE}/{name}"
        if r:
            for digest in (config_desc.digest, layer_desc.digest):
                status, _, body = writer.request("POST", f"/v2/{path}/blobs/uploads/?mount={digest}&from={first}")
                assert status == 201, (status, body)
        for name_, tag, version, state, description, tags in plan[r * sizes.tags : (r + 1) * sizes.tags]:
            annotations = {
                oci.TITLE: name_.replace("-", " ").title(),
                oci.DESCRIPTION: description,
                oci.VERSION: version,
                oci.VENDOR: NAMESPACE,
                oci.STATUS: state,
                oci.SKILL_TAGS: json.dumps(tags),
            }
            raw = oci.build_manifest(config_desc, [layer_desc], annotations)
            status, _, body = writer.request(
                "PUT", f"/v2/{path}/manifests/{tag}", raw, {"Content-Type": oci.MANIFEST_V1}
            )
            assert status == 201, (status, body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put_repo, range(sizes.repos)))

    def query(i: int) -> str:
        kind = i % 6
        word = rng.choice(words)
        if kind == 0:
            return f"/api/v1/skills?q={word}&page={1 + i // 600}"
        if kind == 1:
            return f"/api/v1/skills?q={word[:4]}&status=published&page={1 + i // 600}"
        if kind == 2:
            return f"/api/v1/skills?q={urllib.parse.quote(word + ' ' + rng.choice(words)[:3])}"
        if kind == 3:
            return f"/api/v1/skills?tags={rng.choice(topics)}&per_page=50&page={1 + i % 20}"
        if kind == 4:
            return f"/api/v1/skills?status={rng.choice(STATES)}&page={1 + i % 100}"
        return f"/api/v1/skills?namespace={NAMESPACE}&page={1 + i % 500}&per_page=20"

    distinct: list[str] = []
    seen: set[str] = set()
    i = 0
    while len(distinct) < 6000:
        candidate = query(i)
        i += 1
        if candidate not in seen:
            seen.add(candidate)
            distinct.append(candidate)
    queries = distinct
    return queries


def _get(url: str, path: str) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _registry_requests(url: str) -> dict[str, int]:
    _, body = _get(url, "/metrics")
    found: dict[str, int] = {}
    for kind, count in re.findall(
        r'skillctl_catalog_registry_requests_total\{registry="[^"]*",kind="(\w+)"\} (\d+)', body.decode()
    ):
        found[kind] = int(count)
    return found


def _memory(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _cache_counts(url: str) -> dict[str, int]:
    """Answers from the answer cache (``hit``), and text searches whose matches were remembered (``text_hit``)."""
    _, body = _get(url, "/metrics")
    counts = {"hit": 0, "miss": 0, "text_hit": 0, "text_miss": 0}
    for metric, prefix in (("search_cache", ""), ("text_matches", "text_")):
        for result, count in re.findall(rf'skillctl_catalog_{metric}_total\{{result="(\w+)"\}} (\d+)', body.decode()):
            counts[prefix + result] = int(count)
    return counts


def _load(url: str, clients: int, requests: int, work: Path, mix: list[str]) -> dict:
    queries = work / "catalog-queries.json"
    queries.write_text(json.dumps(mix))
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "catalog_load.py"), url, str(clients), str(requests), str(queries)],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(done.stdout)


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run_catalog(work: Path, sizes: CatalogSizes, notes: list[str]) -> list[Row]:
    script = Path(sys.executable).parent / "skillctl"
    versions = sizes.repos * sizes.tags
    rows: list[Row] = []
    with Registry(work / "catalog-registry", set()) as reg:
        log(f"catalog: writing {sizes.repos} repositories x {sizes.tags} tags")
        began = time.perf_counter()
        queries = seed(reg, sizes)
        notes.append(
            f"catalog: {versions:,} versions in {sizes.repos:,} repositories written through the registry API in "
            f"{time.perf_counter() - began:.1f} s (untimed)"
        )
        log("catalog: starting skillctl serve (initial sync)")
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(script), "serve", "--registry", f"{reg.host}/{NAMESPACE}", "--tls-verify=false", "--port", "0",
             "--sync-interval", "1h"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            url = re.search(r"(http://\S+)", process.stdout.readline()).group(1)  # type: ignore[union-attr]
            threading.Thread(target=lambda: process.stdout.read(), daemon=True).start()  # type: ignore[union-attr]
            while True:
                status, body = _get(url, "/readyz")
                if status == 200:
                    break
                if time.perf_counter() - started > 1800:
                    raise RuntimeError("catalog: the first sync did not finish in 30 minutes")
                time.sleep(0.2)
            ready = time.perf_counter() - started
            state = json.loads(body)
            indexed = state["counts"]["versions"]
            if indexed != versions:
                raise RuntimeError(f"catalog: indexed {indexed} versions, expected {versions}")
            first_sync = state["sources"][0]["seconds"]
            after_first = _registry_requests(url)
            rows.append(
                Row(
                    f"catalog: first sync of {versions:,} versions ({sizes.repos:,} repositories)",
                    first_sync,
                    None,
                    "",
                    "info (no goal)",
                    True,
                    info=True,
                )
            )
            notes.append(
                f"catalog: ready {ready:.1f} s after start; the first sync made {sum(after_first.values()):,} "
                f"registry requests ({', '.join(f'{k} {v:,}' for k, v in sorted(after_first.items()))})"
            )

            log("catalog: unchanged sync")
            _get(url, "/readyz")
            syncs = state["syncs"]
            conn_status = _post(url, "/api/v1/sync")
            if conn_status != 202:
                raise RuntimeError(f"catalog: POST /api/v1/sync answered {conn_status}")
            while True:
                _, body = _get(url, "/readyz")
                state = json.loads(body)
                if state["syncs"] > syncs and not state["syncing"]:
                    break
                time.sleep(0.05)
            after_second = _registry_requests(url)
            delta = {k: after_second.get(k, 0) - after_first.get(k, 0) for k in after_second}
            delta = {k: v for k, v in delta.items() if v}
            second = state["sources"][0]["seconds"]
            ok = delta.get("tags") == sizes.repos and set(delta) <= {"tags", "catalog"} and delta.get("catalog", 0) <= 2
            rows.append(
                Row(
                    f"catalog: sync of {sizes.repos:,} unchanged repositories",
                    second,
                    None,
                    "",
                    "1 tag list per repository, nothing else",
                    ok,
                )
            )
            notes.append(
                "catalog: the unchanged sync made these registry requests: "
                + ", ".join(f"{k} {v:,}" for k, v in sorted(delta.items()))
            )

            cold = sizes.single_requests + sizes.clients * sizes.requests_per_client
            distinct, popular = queries[:cold], queries[cold : cold + 200]
            # More distinct queries, every text search among them ranked (sort=relevance, as the web UI asks).
            ranked = [q + "&sort=relevance" if "q=" in q else q for q in queries[cold + 200 : 2 * cold + 200]]
            plans = [
                ("distinct queries", 1, sizes.single_requests, distinct),
                ("distinct queries", sizes.clients, sizes.requests_per_client, distinct[sizes.single_requests :]),
                ("distinct queries, text ranked by relevance", sizes.clients, sizes.requests_per_client,
                 ranked[sizes.single_requests :]),
                ("200 popular queries, warm", sizes.clients, sizes.requests_per_client, popular),
            ]  # fmt: skip
            # Warm-up of connections and code paths, not counted: searches for words no skill holds, so that no
            # answer or text match it leaves behind serves a measured request.
            _load(url, sizes.clients, 4, work, [f"/api/v1/skills?q=warm{i:03d}" for i in range(400)])
            for label, clients, requests, mix in plans:
                if mix is popular:  # asked for all the time, so warm, as in use (not counted)
                    _load(url, 1, len(popular), work, popular)
                log(f"catalog: search load, {clients} client(s) x {requests} requests, {label}")
                before = _cache_counts(url)
                result = _load(url, clients, requests, work, mix)
                after = _cache_counts(url)
                if result["errors"]:
                    raise RuntimeError(f"catalog: {len(result['errors'])} searches failed: {result['errors'][:5]}")
                lat = result["latencies"]
                p50, p95 = statistics.median(lat), _percentile(lat, 95)
                n = len(lat)
                hits = after["hit"] - before["hit"]
                texts = {k: after[f"text_{k}"] - before[f"text_{k}"] for k in ("hit", "miss")}
                who = f"{clients} client{'s' if clients > 1 else ''}, {label} ({n:,} requests, {hits / n:.0%} cached)"
                if texts["hit"] + texts["miss"]:
                    notes.append(
                        f"catalog: {clients} client(s), {label}: {texts['hit'] + texts['miss']:,} text searches among "
                        f"the answers made, {texts['hit']:,} of them with text matches remembered from an earlier "
                        "request (another page or other filters of the same words)"
                    )
                rows.append(Row(f"catalog: search p50, {who}", p50, None, "", "info", True, unit="ms", info=True))
                goal = clients >= 50 and "ranked" not in label  # the goal: the API as the Go tool's clients use it
                rows.append(
                    Row(
                        f"catalog: search p95, {who}",
                        p95,
                        None,
                        "",
                        "< 50 ms" if goal else "info",
                        p95 < 0.050,
                        unit="ms",
                        info=not goal,
                    )
                )
                notes.append(
                    f"catalog: {clients} client(s), {label}: {n / result['wall']:.0f} requests/s over "
                    f"{result['wall']:.1f} s, p99 {_percentile(lat, 99) * 1000:.1f} ms"
                )
            rss, peak = _memory(process.pid)
            rows.append(Row("catalog: server resident memory, peak (VmHWM)", peak, None, "", "< 200 MB",
                            peak < 200, unit="MB"))  # fmt: skip
            notes.append(f"catalog: server RSS {rss:.0f} MB now, peak {peak:.0f} MB (VmHWM)")
        finally:
            process.terminate()
            process.wait(timeout=30)
    return rows


def _post(url: str, path: str) -> int:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("POST", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()
