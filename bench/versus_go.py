"""skillctl next to the Go skillctl (redhat-et/skillimage): the same everyday commands, side by side.

Both tools run as the user runs them: one process per command, from the installed console script and the
``skillctl-go`` binary (``$SKILLCTL_GO``, else on PATH; ``.ci/install-tools interop`` builds it from the source
tarball in ``$SKILLCTL_PEERS``). The Go tool speaks HTTPS only, so the registry is the CNCF distribution registry
on loopback with TLS, its certificate signed by a CA the benchmark makes; the Go tool trusts it through
``SSL_CERT_FILE``, ours through ``SKILLCTL_CERT_DIR`` (skopeo, our default backend, gets the same directory).

Method, per command: each tool has its own HOME (store, credentials), made fresh outside the timing wherever a run
changes state. One untimed warm-up run each, then the two tools alternate, the order flipping every run. Wall time
is measured around the process; CPU time (user + system) comes from ``wait4``'s resource usage, so it includes
the tool processes ours starts (skopeo). Reported: the median wall time of each tool, the median of the per-run
ratios (ours / Go) with the lowest and highest ratio, and the median CPU times.

Every push goes to a registry of its own (new port, empty storage, same certificate): skopeo remembers where it
uploaded a blob (its blob-info cache, keyed by ``host:port``) and would otherwise mount it from an earlier push
instead of uploading it. Pulls read from one registry seeded once, each into an empty store. Each promotion starts
from a draft pushed (untimed) to a repository no run has used.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchdata import MiB, make_big_skill, make_small_skill, make_store_with_images
from benchutil import log

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from registry import Registry, _config_yaml, _wait_ready, free_port, make_ca, make_server_cert  # noqa: E402

EXAMPLE = REPO / "examples" / "hello-world"
SMALL_REF = "examples/hello-world:1.0.0-draft"


@dataclass(frozen=True)
class VersusSizes:
    small_runs: int  # validate, pack, inspect, list of a small store
    list_images: int
    list_runs: int
    many_files: int
    many_files_runs: int
    big_bytes: int
    big_runs: int  # push, pull, pull -o
    promote_runs: int


FULL = VersusSizes(
    small_runs=15,
    list_images=1000,
    list_runs=7,
    many_files=10_000,
    many_files_runs=5,
    big_bytes=100 * MiB,
    big_runs=5,
    promote_runs=9,
)
QUICK = VersusSizes(
    small_runs=3,
    list_images=100,
    list_runs=2,
    many_files=1000,
    many_files_runs=1,
    big_bytes=5 * MiB,
    big_runs=1,
    promote_runs=2,
)


def go_binary() -> str:
    path = os.environ.get("SKILLCTL_GO") or shutil.which("skillctl-go")
    if not path or not Path(path).is_file():
        sys.exit("bench: the Go skillctl is not available: run '.ci/install-tools interop' or set SKILLCTL_GO")
    return path


def go_version() -> str:
    path = go_binary()
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return f"Go skillctl: {path} ({out or 'version unknown'})"


# -- measuring one process -----------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> Sample:
    """Wall and CPU time (user + system, with the processes it waited for) of one run; it must succeed."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()  # small: both tools are quiet unless something fails
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}\n{err.decode(errors='replace')[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime)


# -- the two tools -------------------------------------------------------------------------------
@dataclass
class Tool:
    name: str
    argv0: list[str]
    ca: Path
    root: Path
    _homes: int = 0

    def home(self) -> tuple[Path, dict[str, str]]:
        """A new, empty HOME (with its XDG dirs) and the environment that uses it."""
        self._homes += 1
        home = self.root / f"{self.name}-home-{self._homes}"
        for sub in (".local/share", ".config", ".local/state", ".cache", "run"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        keep = ("PATH", "LANG", "TMPDIR", "SKILLCTL_GO")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            HOME=str(home),
            XDG_DATA_HOME=str(home / ".local/share"),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_STATE_HOME=str(home / ".local/state"),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_RUNTIME_DIR=str(home / "run"),
            LC_ALL="C.UTF-8",
            SSL_CERT_FILE=str(self.ca),
            SKILLCTL_CERT_DIR=str(self.ca.parent),
        )
        return home, env

    def store(self, home: Path) -> Path:
        return home / ".local/share/skillctl/store"  # where both tools keep their store by default

    def run(self, env: dict[str, str], *args: object, cwd: Path | None = None) -> None:
        """An untimed step of the set-up."""
        done = subprocess.run([*self.argv0, *map(str, args)], env=env, cwd=cwd or self.root, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(map(str, args))}: {done.stderr.decode(errors='replace')}")


# -- registries ----------------------------------------------------------------------------------
@dataclass
class Registries:
    """TLS registries on loopback sharing one CA and server certificate; each one started is stopped at the end."""

    root: Path
    ca: Path = field(init=False)
    _server: tuple[Path, Path] = field(init=False)
    _count: int = 0

    def __post_init__(self) -> None:
        ca_crt, ca_key = make_ca(self.root / "ca")
        self._server = make_server_cert(self.root / "server", ca_crt, ca_key)
        certs = self.root / "certs"
        certs.mkdir()
        self.ca = certs / "ca.crt"
        shutil.copy(ca_crt, self.ca)

    @contextmanager
    def running(self) -> Iterator[Registry]:
        self._count += 1
        root = self.root / f"registry-{self._count}"
        root.mkdir()
        host = f"127.0.0.1:{free_port()}"
        config = root / "config.yml"
        config.write_text(_config_yaml(root, host, delete=True, tls=self._server, htpasswd=None))
        log_path = root / "registry.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                ["docker-registry", "serve", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        reg = Registry(host=host, root=root, process=process, log_path=log_path, tls=True, cert_dir=self.ca.parent)
        try:
            _wait_ready(reg, 15)
            yield reg
        finally:
            reg.stop()
            shutil.rmtree(root, ignore_errors=True)


# -- one comparison ------------------------------------------------------------------------------
# A case prepares one run of one tool (untimed) and returns (argv after the program, env, cwd).
Prepare = Callable[[Tool, int], tuple[list[str], dict[str, str], Path]]


@dataclass
class Result:
    what: str
    goal: float
    ours: list[Sample]
    go: list[Sample]
    note: str = ""

    @property
    def ratios(self) -> list[float]:
        return [o.wall / g.wall for o, g in zip(self.ours, self.go, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def passed(self) -> bool:
        return self.ratio <= self.goal


def compare(what: str, goal: float, runs: int, tools: tuple[Tool, Tool], prepare: Prepare, note: str = "") -> Result:
    ours, go = tools
    samples: dict[str, list[Sample]] = {"ours": [], "go": []}
    for tool in (ours, go):  # warm-up: page cache, .pyc files, the tools' binaries
        argv, env, cwd = prepare(tool, -1)
        measure([*tool.argv0, *argv], env, cwd)
    for i in range(runs):
        for tool in (ours, go) if i % 2 == 0 else (go, ours):
            argv, env, cwd = prepare(tool, i)
            samples[tool.name].append(measure([*tool.argv0, *argv], env, cwd))
    result = Result(what, goal, samples["ours"], samples["go"], note)
    log(
        f"{what}: ours {statistics.median(s.wall for s in result.ours) * 1000:.0f} ms, "
        f"Go {statistics.median(s.wall for s in result.go) * 1000:.0f} ms, ratio {result.ratio:.2f}x"
    )
    return result


# -- the benchmark -------------------------------------------------------------------------------
def make_many_files(root: Path, count: int) -> Path:
    make_small_skill(root, name="bench-many")
    for i in range(count):
        folder = root / "references" / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note-{i:05d}.md").write_text(f"# Note {i}\n\nLine {i} of the many-files skill.\n")
    return root


def run_versus(work: Path, sizes: VersusSizes, notes: list[str]) -> tuple[list[Result], list[str]]:
    go_path = go_binary()
    ours_path = Path(sys.executable).parent / "skillctl"
    base = work / "versus"
    base.mkdir()
    regs = Registries(base / "registries")
    ours = Tool("ours", [str(ours_path)], regs.ca, base)
    go = Tool("go", [go_path], regs.ca, base)
    tools = (ours, go)
    pack_cmd = {"ours": "pack", "go": "build"}
    results: list[Result] = []

    # Inputs, made once.
    many = make_many_files(base / "many-files", sizes.many_files)
    big = base / "big-skill"
    make_big_skill(big, sizes.big_bytes)
    list_store = base / "list-store"
    make_store_with_images(list_store, make_small_skill(base / "list-skill"), sizes.list_images)

    # One HOME per tool holding hello-world (inspect, list) and one holding the big skill (push).
    packed: dict[str, tuple[Path, dict[str, str]]] = {}
    big_home: dict[str, tuple[Path, dict[str, str]]] = {}
    for tool in tools:
        packed[tool.name] = tool.home()
        tool.run(packed[tool.name][1], pack_cmd[tool.name], EXAMPLE)
        big_home[tool.name] = tool.home()
        tool.run(big_home[tool.name][1], pack_cmd[tool.name], big)
    # The big store for `list`: the same OCI layout for both (each tool lists the other's store).
    list_home: dict[str, tuple[Path, dict[str, str]]] = {}
    for tool in tools:
        home, env = tool.home()
        tool.store(home).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(list_store, tool.store(home))
        list_home[tool.name] = (home, env)

    def fresh(args: list[str]) -> Prepare:
        def prepare(tool: Tool, i: int) -> tuple[list[str], dict[str, str], Path]:
            home, env = tool.home()
            return [pack_cmd[tool.name] if a == "{pack}" else a for a in args], env, home

        return prepare

    def in_home(homes: dict[str, tuple[Path, dict[str, str]]], args: list[str]) -> Prepare:
        def prepare(tool: Tool, i: int) -> tuple[list[str], dict[str, str], Path]:
            home, env = homes[tool.name]
            return args, env, home

        return prepare

    # The floor under every Python CLI: the interpreter, and Click. Timed against the Go tool's validate.
    floor = Tool("ours", [sys.executable, "-c", "import click"], regs.ca, base)

    def floor_prepare(tool: Tool, i: int) -> tuple[list[str], dict[str, str], Path]:
        home, env = tool.home()
        return ([] if tool is floor else ["validate", str(EXAMPLE)]), env, home

    results.append(
        compare(
            "floor: `python -c 'import click'` next to Go's `validate`",
            math.inf,
            sizes.small_runs,
            (floor, go),
            floor_prepare,
        )
    )
    results.append(compare("`validate` hello-world", 4.0, sizes.small_runs, tools, fresh(["validate", str(EXAMPLE)])))
    results.append(compare("`pack` hello-world", 4.0, sizes.small_runs, tools, fresh(["{pack}", str(EXAMPLE)])))
    results.append(compare("`inspect` (local)", 4.0, sizes.small_runs, tools, in_home(packed, ["inspect", SMALL_REF])))
    results.append(compare("`list`, 1 image", 4.0, sizes.small_runs, tools, in_home(packed, ["list"])))
    results.append(
        compare(f"`list`, {sizes.list_images:,} images", 1.0, sizes.list_runs, tools, in_home(list_home, ["list"]))
    )
    results.append(
        compare(
            f"`pack` {sizes.many_files:,} small files",
            1.0,
            sizes.many_files_runs,
            tools,
            fresh(["{pack}", str(many)]),
        )
    )
    results.append(
        compare(f"`pack` {sizes.big_bytes // MiB} MiB", 1.0, sizes.big_runs, tools, fresh(["{pack}", str(big)]))
    )

    big_ref = "bench/bench-big:1.0.0-draft"
    with ExitStack() as outer:
        current = [ExitStack()]
        outer.callback(lambda: current[0].close())

        def push(tool: Tool, i: int) -> tuple[list[str], dict[str, str], Path]:
            current[0].close()  # the previous run's registry
            current[0] = ExitStack()
            reg = current[0].enter_context(regs.running())  # a registry of its own: nothing to mount from
            home, env = big_home[tool.name]
            dest = f"{reg.host}/bench/big-{tool.name}-{i + 1}:1.0.0-draft"
            if tool.name == "go":
                tool.run(env, "tag", big_ref, dest)  # the Go tool pushes a local name; tagging is not timed
                return ["push", dest], env, home
            return ["push", big_ref, dest], env, home

        results.append(compare(f"`push` {sizes.big_bytes // MiB} MiB", 1.2, sizes.big_runs, tools, push))

    with regs.running() as reg:
        remote = f"{reg.host}/bench/bench-big:1.0.0-draft"
        ours.run(big_home["ours"][1], "push", big_ref, remote)
        results.append(
            compare(f"`pull` {sizes.big_bytes // MiB} MiB", 1.2, sizes.big_runs, tools, fresh(["pull", remote]))
        )

        def pull_out(tool: Tool, i: int) -> tuple[list[str], dict[str, str], Path]:
            home, env = tool.home()
            return ["pull", remote, "-o", str(home / "out")], env, home

        results.append(compare(f"`pull -o` {sizes.big_bytes // MiB} MiB", 1.2, sizes.big_runs, tools, pull_out))

        counter = iter(range(10**6))

        def promote(tool: Tool, i: int) -> tuple[list[str], dict[str, str], Path]:
            home, env = packed["ours"]
            draft = f"{reg.host}/bench/promote-{next(counter)}:1.0.0-draft"
            ours.run(env, "push", SMALL_REF, draft)  # the draft, untimed, in a repository of its own
            home, env = packed[tool.name]
            return ["promote", draft, "--to", "testing"], env, home

        results.append(compare("remote `promote` draft → testing", 2.0, sizes.promote_runs, tools, promote))

    notes.append(
        f"versus Go: `{go_path}` against `{ours_path}`; TLS registry (`docker-registry`) on loopback; "
        f"{sizes.many_files:,}-file skill of {sizes.many_files} notes of ~40 bytes; the {sizes.big_bytes // MiB} MiB "
        "skill is the pack benchmark's (half prose, half random bytes); the list store is the list benchmark's, "
        "the same OCI layout for both tools."
    )
    return results, render(results)


def render(results: list[Result]) -> list[str]:
    def ms(samples: list[Sample], attr: str) -> str:
        value = statistics.median(getattr(s, attr) for s in samples)
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"

    lines = [
        "## Side by side with the Go skillctl",
        "",
        "| command | ours (wall) | Go (wall) | ours/Go: median (min-max) | ours CPU | Go CPU | runs | goal | result |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.what} | {ms(r.ours, 'wall')} | {ms(r.go, 'wall')} | {r.ratio:.2f}x "
            f"({min(r.ratios):.2f}-{max(r.ratios):.2f}) | {ms(r.ours, 'cpu')} | {ms(r.go, 'cpu')} | {len(r.ours)} "
            + (f"| ≤ {r.goal:g}x | {'pass' if r.passed else '**MISSED**'} |" if r.goal != math.inf else "| - | info |")
        )
    lines += ["", "Raw wall times per run, ours / Go (ms, in run order):", ""]
    for r in results:
        ours = ", ".join(f"{s.wall * 1000:.0f}" for s in r.ours)
        go = ", ".join(f"{s.wall * 1000:.0f}" for s in r.go)
        lines.append(f"- {r.what}: {ours} / {go}")
    lines.append("")
    return lines
