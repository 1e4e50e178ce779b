#!/usr/bin/env python3
"""skillctl benchmarks: start-up, pack, list, push, pull and promote, each next to a baseline, in one process.

Run from the repository root with the Python of the environment skillctl is
installed in (the ``skillctl`` console script must sit next to it)::

    .venv/bin/python bench/run.py                  # full sizes (a few minutes)
    .venv/bin/python bench/run.py --quick          # smoke run: small sizes, few runs
    .venv/bin/python bench/run.py --only push,pull # a subset

Prints a Markdown table of times, ratios and goals and writes the same report
to ``bench/results/latest.md`` (``quick.md`` for ``--quick``, ``partial.md``
for ``--only``). The exit code is 0 even when a goal is missed: benchmarks
report, tests judge. See ``bench/README.md`` for the method.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import catalog as catalog_bench
import mirror as mirror_bench
import promote as promote_bench
import sync as sync_bench
import transfer
import versus_go
from benchdata import MiB, make_big_skill, make_small_skill, make_store_with_images
from benchutil import Row, fmt_time, log, run_quiet, time_call

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


@dataclass(frozen=True)
class Sizes:
    startup_runs: int
    pack_bytes: int
    pack_runs: int
    images: int
    list_runs: int
    transfer: transfer.TransferSizes


FULL = Sizes(startup_runs=30, pack_bytes=100 * MiB, pack_runs=3, images=1000, list_runs=5, transfer=transfer.FULL)
QUICK = Sizes(startup_runs=5, pack_bytes=10 * MiB, pack_runs=1, images=100, list_runs=2, transfer=transfer.QUICK)
BENCHMARKS = ("versus", "startup", "pack", "list", "push", "pull", "promote", "mirror", "sync", "catalog")


def console_script() -> Path:
    script = Path(sys.executable).parent / "skillctl"
    if not script.is_file():
        sys.exit(f"bench: {script} not found; install skillctl into this environment first (make install)")
    return script


# -- 1. start-up ---------------------------------------------------------------------------------
def bench_startup(script: Path, runs: int) -> Row:
    out = subprocess.run([str(script), "--version"], check=True, capture_output=True, text=True).stdout
    if not out.startswith("skillctl "):
        sys.exit(f"bench: unexpected 'skillctl --version' output: {out!r}")
    skillctl_argv = [str(script), "--version"]
    floor_argv = [sys.executable, "-c", "pass"]
    for _ in range(3):  # warm the page cache and the interpreter's .pyc files; not counted
        run_quiet(skillctl_argv)
        run_quiet(floor_argv)
    ours: list[float] = []
    floor: list[float] = []
    for i in range(runs):
        pair = [(skillctl_argv, ours), (floor_argv, floor)]
        for argv, times in pair if i % 2 == 0 else reversed(pair):
            times.append(time_call(lambda argv=argv: run_quiet(argv)))
    median, floor_median = statistics.median(ours), statistics.median(floor)
    return Row(
        what=f"`skillctl --version` start-up (median of {runs})",
        skillctl=median,
        baseline=floor_median,
        baseline_what="`python -c pass`",
        goal="≤ 100 ms",
        passed=median <= 0.100,
        unit="ms",
    )


# -- 2. pack -------------------------------------------------------------------------------------
def bench_pack(work: Path, sizes: Sizes, notes: list[str]) -> Row:
    from skillctl import Store, pack

    skill = work / "big-skill"
    log(f"generating a {sizes.pack_bytes / MiB:.0f} MiB skill in {skill}")
    written = make_big_skill(skill, sizes.pack_bytes)
    files = sum(1 for p in skill.rglob("*") if p.is_file())

    warm = make_small_skill(work / "warm-up")  # import pack's modules and fill its caches; not counted
    pack(warm, store=Store(work / "warm-store"))

    out = work / "baseline.tar.gz"
    pipeline = f"set -o pipefail; tar -c -C {shlex.quote(str(skill))} . | gzip -6 > {shlex.quote(str(out))}"
    ours: list[float] = []
    baseline: list[float] = []
    layer_size = baseline_size = 0

    def run_ours(i: int) -> None:
        nonlocal layer_size
        store_dir = work / f"pack-store-{i}"
        results = []
        ours.append(time_call(lambda: results.append(pack(skill, store=Store(store_dir)))))
        layer_size = results[0].layer.size
        shutil.rmtree(store_dir)

    def run_baseline(i: int) -> None:
        nonlocal baseline_size
        baseline.append(time_call(lambda: run_quiet(pipeline, shell=True, executable="/bin/bash")))
        baseline_size = out.stat().st_size
        out.unlink()

    for i in range(sizes.pack_runs):
        order = [run_ours, run_baseline] if i % 2 == 0 else [run_baseline, run_ours]
        for step in order:
            step(i)
        log(f"pack run {i + 1}/{sizes.pack_runs}: skillctl {ours[-1]:.2f} s, tar|gzip {baseline[-1]:.2f} s")
    total = written["text"] + written["random"]
    notes.append(
        f"pack input: {total / MiB:.0f} MiB in {files} files ({written['text'] / MiB:.0f} MiB generated prose, "
        f"{written['random'] / MiB:.0f} MiB random bytes); layer {layer_size / MiB:.1f} MiB, "
        f"`tar | gzip -6` {baseline_size / MiB:.1f} MiB. Runs: skillctl "
        + ", ".join(f"{t:.2f}" for t in ours)
        + " s; baseline "
        + ", ".join(f"{t:.2f}" for t in baseline)
        + " s."
    )
    median, base_median = statistics.median(ours), statistics.median(baseline)
    return Row(
        what=f"`pack` of a {total / MiB:.0f} MiB skill (median of {sizes.pack_runs})",
        skillctl=median,
        baseline=base_median,
        baseline_what="`tar -c \\| gzip -6`",
        goal="≤ 1.3x",
        passed=median / base_median <= 1.3,
    )


# -- 3. list -------------------------------------------------------------------------------------
def bench_list(work: Path, script: Path, sizes: Sizes, notes: list[str]) -> list[Row]:
    from skillctl import Store, list_images

    store_root = work / "list-store"
    log(f"building a store with {sizes.images} images")
    built = time_call(lambda: make_store_with_images(store_root, make_small_skill(work / "list-skill"), sizes.images))
    argv = [str(script), "--store", str(store_root), "list"]
    refs = subprocess.run([*argv, "--quiet"], check=True, capture_output=True, text=True).stdout.split()
    if len(refs) != sizes.images:
        sys.exit(f"bench: 'skillctl list' shows {len(refs)} images, expected {sizes.images}")
    rows_found = len(list_images(Store(store_root)))  # also the in-process warm-up
    if rows_found != sizes.images:
        sys.exit(f"bench: list_images returned {rows_found} images, expected {sizes.images}")
    notes.append(
        f"list store: {sizes.images} tags, each its own manifest blob (built in {built:.1f} s); "
        "the CLI time includes interpreter start-up and the table output (to /dev/null)."
    )

    cli_times = [time_call(lambda: run_quiet(argv)) for _ in range(sizes.list_runs)]
    lib_times = [time_call(lambda: list_images(Store(store_root))) for _ in range(sizes.list_runs)]
    rows = []
    for label, times in (("`skillctl list`", cli_times), ("`list_images()` in-process", lib_times)):
        median = statistics.median(times)
        rows.append(
            Row(
                what=f"{label}, {sizes.images:,} images (median of {sizes.list_runs})",
                skillctl=median,
                baseline=None,
                baseline_what="",
                goal="< 1 s",
                passed=median < 1.0,
                unit="ms",
            )
        )
    return rows


# -- report --------------------------------------------------------------------------------------
def machine_facts(which: set[str], load_start: tuple[float, float, float]) -> list[str]:
    import skillctl

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(tool: str) -> str:
        try:
            return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return f"{tool}: not found"

    return [
        f"skillctl {skillctl.__version__} ({Path(skillctl.__file__).parent})",
        f"Python {platform.python_version()} ({sys.executable})",
        f"{platform.system()} {platform.release()} {platform.machine()}; {os.cpu_count()} CPUs (nproc) {cpu}".rstrip(),
        f"{version('tar')}; {version('gzip')}",
        *([transfer.tool_versions()] if which & {"push", "pull", "promote", "mirror", "sync", "versus"} else []),
        *([versus_go.go_version()] if "versus" in which else []),
        f"temporary files in {tempfile.gettempdir()}",
        "load average (1, 5, 15 min) at the start "
        + ", ".join(f"{x:.2f}" for x in load_start)
        + ", at the end "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (other work on the machine shows up as noise)",
    ]


def render(
    rows: list[Row],
    facts: list[str],
    notes: list[str],
    quick: bool,
    extra: list[str],
    missed_extra: list[str],
    lead: Sequence[str] = (),
) -> str:
    lines = [
        f"# skillctl benchmarks{' (--quick: smoke sizes, not the goals)' if quick else ''}",
        "",
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        *(f"- {fact}" for fact in facts),
        "",
        *lead,
    ]
    if rows:
        lines += ["| Benchmark | skillctl | baseline | ratio | goal | result |", "|---|---:|---:|---:|---|---|"]
    for row in rows:
        base = f"{fmt_time(row.baseline, row.unit)} ({row.baseline_what})" if row.baseline is not None else "-"
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
        lines.append(
            f"| {row.what} | {fmt_time(row.skillctl, row.unit)} | {base} | {ratio} | {row.goal} | {row.result} |"
        )
    lines.append("")
    missed = [f"MISSED: {row.what}: goal {row.goal}" for row in rows if row.result != "pass" and not row.info]
    missed += missed_extra
    if missed:
        lines += missed
    else:
        lines.append("All goals met.")
    lines += ["", *(f"- {note}" for note in notes)]
    if extra:
        lines += ["", *extra]
    return "\n".join(lines) + "\n"


def parse_only(value: str) -> set[str]:
    names = {name.strip() for name in value.split(",") if name.strip()}
    unknown = names - set(BENCHMARKS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(BENCHMARKS)} (got {value!r})")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few runs: a smoke test of the runner")
    parser.add_argument(
        "--only",
        type=parse_only,
        default=set(BENCHMARKS),
        metavar="NAME[,NAME]",
        help=f"run only these benchmarks: {', '.join(BENCHMARKS)} (default: all)",
    )
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    which: set[str] = args.only
    sizes = QUICK if args.quick else FULL
    script = console_script()
    rows: list[Row] = []
    notes: list[str] = []
    extra: list[str] = []
    missed: list[str] = []
    lead: list[str] = []
    # A SIGTERM unwinds like an exception, so the registries are stopped and the temporary files removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="skillctl-bench-") as tmp:
        work = Path(tmp)
        if "versus" in which:
            versus_results, versus_lines = versus_go.run_versus(
                work, versus_go.QUICK if args.quick else versus_go.FULL, notes
            )
            lead = versus_lines
            missed += [
                f"MISSED: versus Go, {r.what}: {r.ratio:.2f}x, goal ≤ {r.goal:g}x"
                for r in versus_results
                if not r.passed
            ]
        if "startup" in which:
            log(f"start-up: {sizes.startup_runs} runs each")
            rows.append(bench_startup(script, sizes.startup_runs))
        if "pack" in which:
            rows.append(bench_pack(work, sizes, notes))
        if "list" in which:
            rows.extend(bench_list(work, script, sizes, notes))
        if which & {"push", "pull"}:
            transfer_rows, transfer_extra = transfer.run_transfer(work, sizes.transfer, which, notes)
            rows.extend(transfer_rows)
            extra += transfer_extra
        if "promote" in which:
            promote_sizes = promote_bench.QUICK if args.quick else promote_bench.FULL
            rows.extend(promote_bench.run_promote(work, promote_sizes, notes))
        if "mirror" in which:
            rows.extend(mirror_bench.run_mirror(work, mirror_bench.QUICK if args.quick else mirror_bench.FULL, notes))
        if "sync" in which:
            rows.extend(sync_bench.run_sync(work, sync_bench.QUICK if args.quick else sync_bench.FULL, notes))
        if "catalog" in which:
            rows.extend(
                catalog_bench.run_catalog(work, catalog_bench.QUICK if args.quick else catalog_bench.FULL, notes)
            )
    report = render(rows, machine_facts(which, load_start), notes, args.quick, extra, missed, lead)
    print(report, end="")
    RESULTS_DIR.mkdir(exist_ok=True)
    name = (
        "quick.md"
        if args.quick
        else "latest.md"
        if which == set(BENCHMARKS)
        else "versus.md"
        if which == {"versus"}
        else "partial.md"
    )
    target = RESULTS_DIR / name
    target.write_text(report, encoding="utf-8")
    log(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
