#!/usr/bin/env python3
"""Load generator for the catalog benchmark: CLIENTS threads, each with its own kept-alive connection, send
REQUESTS searches each to ``URL/api/v1/skills?...`` and time every answer from the request to the last byte.
With at least CLIENTS x REQUESTS queries, no query is sent twice; with fewer, each client walks the set in an
order of its own.

Run as its own process (so the server's interpreter is not shared with it); prints one JSON document: the
latencies in seconds and the count of non-200 answers. Bounded: CLIENTS x REQUESTS requests, loopback only.

    python bench/catalog_load.py http://127.0.0.1:PORT CLIENTS REQUESTS QUERIES.json
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import threading
import time
import urllib.parse


def client(url: str, paths: list[str], out: list[float], errors: list[int], start: threading.Barrier) -> None:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    start.wait()
    for path in paths:
        began = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        out.append(time.perf_counter() - began)
        if response.status != 200 or not body:
            errors.append(response.status)
    conn.close()


def main() -> int:
    url, clients, requests, queries_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(queries_file, encoding="utf-8") as fh:
        queries = json.loads(fh.read())
    if clients * requests > 20_000:
        sys.exit("catalog_load: refusing more than 20,000 requests")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[int] = []
    barrier = threading.Barrier(clients)
    threads = []
    for i in range(clients):
        if len(queries) >= clients * requests:  # enough for all: each client its own slice, nothing repeats
            paths = queries[i * requests : (i + 1) * requests]
        else:  # a popular set: each client its own order (seeded), so they do not ask in lockstep
            order = random.Random(i).sample(range(len(queries)), len(queries))
            paths = [queries[order[j % len(queries)]] for j in range(requests)]
        threads.append(threading.Thread(target=client, args=(url, paths, latencies[i], errors, barrier)))
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    print(json.dumps({"latencies": [x for per in latencies for x in per], "errors": errors, "wall": wall}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
