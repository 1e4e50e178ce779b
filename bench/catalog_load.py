#!/usr/bin/env python3
"""Load generator for the catalog benchmark: CLIENTS concurrent clients, each on its own kept-alive connection,
send REQUESTS searches each to ``URL/api/v1/skills?...`` and time every answer from the request to the last byte.

One asyncio loop drives every client (no thread per client, so the generator's own overhead stays small and
does not queue behind a lock); it runs as its own process, so the server's interpreter is not shared with it.
With at least CLIENTS x REQUESTS queries, no query is sent twice; with fewer, each client walks the set in an
order of its own. Prints one JSON document: the latencies in seconds, the non-200 answers, the wall time.
Bounded: at most 20,000 requests, loopback only.

    python bench/catalog_load.py http://127.0.0.1:PORT CLIENTS REQUESTS QUERIES.json
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import urllib.parse


async def client(host: str, port: int, paths: list[str], out: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for path in paths:
            began = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length)
            out.append(time.perf_counter() - began)
            if status != 200 or not body:
                errors.append(status)
    finally:
        writer.close()


async def run(url: str, clients: int, requests: int, queries: list[str]) -> dict:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    errors: list[int] = []
    plans = []
    for i in range(clients):
        if len(queries) >= clients * requests:  # enough for all: each client its own slice, nothing repeats
            plans.append(queries[i * requests : (i + 1) * requests])
        else:  # a popular set: each client its own order (seeded), so they do not ask in lockstep
            order = random.Random(i).sample(range(len(queries)), len(queries))
            plans.append([queries[order[j % len(queries)]] for j in range(requests)])
    began = time.perf_counter()
    await asyncio.gather(*(client(host, port, plan, latencies, errors) for plan in plans))
    return {"latencies": latencies, "errors": errors, "wall": time.perf_counter() - began}


def main() -> int:
    url, clients, requests, queries_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(queries_file, encoding="utf-8") as fh:
        queries = json.loads(fh.read())
    if clients * requests > 20_000:
        sys.exit("catalog_load: refusing more than 20,000 requests")
    print(json.dumps(asyncio.run(run(url, clients, requests, queries))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
