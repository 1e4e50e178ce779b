"""Skills over MCP benchmark: ``skillctl mcp --registry`` over stdio, driven by the MCP SDK's own client.

Method: a throwaway CNCF registry on loopback gets N skills (``bench/skill-NNN:1.0.0``, published, each with its
own small layer: SKILL.md, skill.yaml and a script), written through the registry API (untimed). Then, timed in the
client: connecting (start of ``skillctl mcp``), the **first listing** (every ``skills/list`` page: it waits for the
first sync, then downloads, checks, unpacks and hashes every layer), a **second listing** (nothing changed: the
snapshot is reused), and ``resources/read`` of every skill's SKILL.md (latency per read). Run it on its own:

    .venv/bin/python bench/mcp_skills.py [N]        # default 500
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import anyio
from catalog_helpers import annotations, put_skill, skill_entries
from mcp_helpers import stdio_skills
from registry import running_registry


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as work, running_registry(Path(work) / "reg") as reg:

        def put(i: int) -> None:
            name = f"skill-{i:03d}"
            entries = skill_entries(name, "1.0.0", body=f"Benchmark skill {i}.\n")
            put_skill(
                reg, f"bench/{name}", "1.0.0", entries=entries, ann=annotations(namespace="bench", version="1.0.0")
            )

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(n)))

        async def measure() -> None:
            started = time.perf_counter()
            async with stdio_skills(
                "--store", f"{work}/store", "mcp", "--registry", f"{reg.host}/bench", "--tls-verify=false"
            ) as host:
                connected = time.perf_counter()
                skills, pages = await host.list_all()
                first = time.perf_counter()
                again, _ = await host.list_all()
                second = time.perf_counter()
                assert len(skills) == n and again == skills
                reads = []
                for skill in skills:
                    t = time.perf_counter()
                    await host.read(skill["uri"])
                    reads.append(time.perf_counter() - t)
            print(f"skills: {n}, pages: {len(pages)}")
            print(f"connect (start skillctl mcp, handshake): {connected - started:.2f} s")
            print(
                f"first listing (first sync; {n} layers fetched, checked, unpacked, hashed): {first - connected:.2f} s"
            )
            print(f"second listing (unchanged): {(second - first) * 1000:.0f} ms")
            print(
                f"resources/read of SKILL.md: p50 {statistics.median(reads) * 1000:.1f} ms, "
                f"p95 {sorted(reads)[int(len(reads) * 0.95)] * 1000:.1f} ms"
            )

        anyio.run(measure)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
