"""Prometheus metrics in the text exposition format (0.0.4): request counts and latencies, the index's size,
each source's sync health, and every request the catalog made to each registry."""

from __future__ import annotations

import bisect
import os
import threading
from collections import defaultdict
from typing import Any, Final

BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: object) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


class Metrics:
    """Counters and a latency histogram per handler, filled by the HTTP middleware."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sums: dict[str, float] = defaultdict(float)

    def observe(self, handler: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(handler, method, status)] += 1
            self._buckets[handler][bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sums[handler] += seconds

    def render(self, catalog: Any) -> str:
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, object]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(f"{name}{labels} {value}" for labels, value in samples)

        with self._lock:
            requests = sorted(self._requests.items())
            buckets = {k: list(v) for k, v in self._buckets.items()}
            sums = dict(self._sums)
        metric(
            "skillctl_catalog_http_requests_total",
            "counter",
            "HTTP requests answered, by handler, method and status.",
            [(_labels(handler=h, method=m, status=s), n) for (h, m, s), n in requests],
        )
        name = "skillctl_catalog_http_request_duration_seconds"
        lines.append(f"# HELP {name} Time to answer, by handler.")
        lines.append(f"# TYPE {name} histogram")
        for handler in sorted(buckets):
            running = 0
            for bound, count in zip((*BUCKETS, float("inf")), buckets[handler], strict=True):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f"{name}_bucket{_labels(handler=handler, le=le)} {running}")
            lines.append(f"{name}_sum{_labels(handler=handler)} {round(sums[handler], 6)}")
            lines.append(f"{name}_count{_labels(handler=handler)} {running}")

        status = catalog.status()
        counts = status["counts"]
        metric(
            "skillctl_catalog_entries",
            "gauge",
            "What the index holds: skill versions (tags), skills, collections, repositories.",
            [(_labels(kind=k), v) for k, v in sorted(counts.items())],
        )
        metric("skillctl_catalog_ready", "gauge", "1 once the first sync has finished.", [("", int(status["ready"]))])
        metric("skillctl_catalog_stale", "gauge", "1 when a source failed its last sync.", [("", int(status["stale"]))])
        metric("skillctl_catalog_syncs_total", "counter", "Sync passes finished.", [("", status["syncs"])])
        sources = status["sources"]
        metric(
            "skillctl_catalog_source_up",
            "gauge",
            "1 when the source's last sync succeeded.",
            [(_labels(source=s["name"]), int(not s["error"] and bool(s["last_success"]))) for s in sources],
        )
        metric(
            "skillctl_catalog_source_last_success_timestamp_seconds",
            "gauge",
            "When the source last synced without error (Unix time).",
            [(_labels(source=s["name"]), round(s["last_success"] or 0, 3)) for s in sources],
        )
        metric(
            "skillctl_catalog_source_sync_seconds",
            "gauge",
            "How long the source's last sync took.",
            [(_labels(source=s["name"]), s["seconds"]) for s in sources],
        )
        metric(
            "skillctl_catalog_source_skipped",
            "gauge",
            "Manifests the last sync refused (hostile or broken), by source.",
            [(_labels(source=s["name"]), s["skipped"]) for s in sources],
        )
        registry_requests = catalog.syncer.registry_requests()
        metric(
            "skillctl_catalog_registry_requests_total",
            "counter",
            "HTTP requests the catalog made to each registry, by kind (tags, manifest, head, blob, catalog, token).",
            [
                (_labels(registry=r, kind=k), n)
                for r, kinds in sorted(registry_requests.items())
                for k, n in sorted(kinds.items())
            ],
        )
        metric(
            "skillctl_catalog_layer_downloads_total",
            "counter",
            "Layers downloaded to list or read a version's files.",
            [("", catalog.content.downloads)],
        )
        metric(
            "skillctl_catalog_layer_download_bytes_total",
            "counter",
            "Bytes of layers downloaded.",
            [("", catalog.content.downloaded_bytes)],
        )
        metric(
            "skillctl_catalog_search_cache_total",
            "counter",
            "Searches answered from the result cache (hit) or the index (miss).",
            [(_labels(result="hit"), catalog.cache_hits), (_labels(result="miss"), catalog.cache_misses)],
        )
        metric(
            "skillctl_catalog_text_matches_total",
            "counter",
            "Text searches whose matches were remembered since the index last changed (hit) or asked of SQLite.",
            [(_labels(result="hit"), catalog.index.text_hits), (_labels(result="miss"), catalog.index.text_misses)],
        )
        metric("process_resident_memory_bytes", "gauge", "Resident memory of this process.", [("", resident_bytes())])
        return "\n".join(lines) + "\n"


def resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
