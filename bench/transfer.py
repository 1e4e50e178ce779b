"""Push and pull benchmarks: ``skillctl.registry.transfer`` next to the bare tool doing the same copy.

The runner starts its own throwaway CNCF distribution registries (``docker-registry
serve``, plain HTTP on a free 127.0.0.1 port, data in a temporary directory).

Every timed push, skillctl's and the bare tool's, goes to a registry started for
that one push: a new port and empty storage. A new repository name alone is not
enough. skopeo (containers/image) records in its machine-wide blob-info cache
where it uploaded each blob, and its next push of that blob to another repository
of the same ``host:port`` is a cross-repository mount (one ``POST ...?mount=``,
no bytes moved). The cache is keyed by ``host:port``, so a new port has no
candidates. Starting and stopping the registry is not timed.

Pulls read from one registry seeded once, each into a new directory (bare tool)
or a new, empty, initialised store (skillctl).

While skillctl runs, the functions that push and pull call are wrapped with
timers (the subprocess helper, layout export and import, blob verification,
``set_tag``, ``os.fsync``), so the report says where skillctl's time goes.
The wrappers cost a few microseconds per call.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchdata import MiB, make_big_skill, make_small_skill
from benchutil import Row, log, run_quiet, time_call

GOAL_RATIO = 1.2
EXACT_BACKENDS = ("skopeo", "crane")  # byte-exact tools: the 1.2x goal applies
INFO_BACKENDS = ("podman", "buildah")  # push through containers-storage: shown for information
REMOTE_TAG = "1.0.0"
LAYOUT_TAG = "bench"
_POLICY = Path("/etc/containers/policy.json")
_ACCEPT_ALL = '{"default":[{"type":"insecureAcceptAnything"}]}'

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: skillctl-bench-not-a-secret
"""


@dataclass(frozen=True)
class TransferSizes:
    big_bytes: int
    small_runs: int
    big_runs: int


FULL = TransferSizes(big_bytes=50 * MiB, small_runs=5, big_runs=3)
QUICK = TransferSizes(big_bytes=5 * MiB, small_runs=2, big_runs=1)


def registry_binary() -> str | None:
    return shutil.which("docker-registry") or shutil.which("registry")


# -- the throwaway registry ----------------------------------------------------------------------
def _free_port(avoid: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            avoid.add(port)
            return port


class Registry:
    """A CNCF distribution registry on a free loopback port, data in ``root``; stopped on exit, even on error."""

    READY_TIMEOUT = 15.0

    def __init__(self, root: Path, used_ports: set[int]) -> None:
        self.root = root
        self.port = 0
        self._used_ports = used_ports
        self._proc: subprocess.Popen[bytes] | None = None
        # urllib honours http_proxy; the registry is on loopback and must be reached directly.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def __enter__(self) -> Registry:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self) -> None:
        binary = registry_binary()
        if binary is None:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
        self.root.mkdir(parents=True, exist_ok=True)
        log_file = self.root / "registry.log"
        for _attempt in range(3):  # the free port may be taken between the probe and the registry's bind
            self.port = _free_port(self._used_ports)
            config = self.root / "config.yml"
            config.write_text(REGISTRY_CONFIG.format(data=self.data, port=self.port), encoding="utf-8")
            with log_file.open("wb") as out:
                self._proc = subprocess.Popen(
                    [binary, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
            if self._wait_ready():
                return
            self.stop()
        tail = log_file.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the registry did not start (3 attempts); last log:\n{tail}")

    def _wait_ready(self) -> bool:
        """True once ``GET /v2/`` answers 200; False if the process died; an error after the deadline."""
        assert self._proc is not None
        deadline = time.monotonic() + self.READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                with self._opener.open(f"http://{self.host}/v2/", timeout=1) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.02)
        raise RuntimeError(f"the registry on {self.host} was not ready within {self.READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)

    def has_blob(self, digest: str, size: int) -> bool:
        """Whether the registry's storage holds the blob (checked outside the timing)."""
        hex_digest = digest.split(":", 1)[1]
        path = self.data / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"
        return path.is_file() and path.stat().st_size == size


# -- where skillctl's time goes ------------------------------------------------------------------
class Steps:
    """Exclusive wall time per step of one skillctl call (a step's time excludes the steps nested in it)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[float, dict[str, float]]]] = defaultdict(list)
        self._current: dict[str, float] | None = None
        self._stack: list[float] = []

    def measure(self, key: str, fn: Callable[[], object]) -> float:
        self._current, self._stack = defaultdict(float), []
        try:
            total = time_call(fn)
            self.samples[key].append((total, dict(self._current)))
            return total
        finally:
            self._current = None

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        if self._current is None:
            yield
            return
        current = self._current
        self._stack.append(0.0)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            nested = self._stack.pop()
            current[label] += elapsed - nested
            if self._stack:
                self._stack[-1] += elapsed


def _wrap_cm(steps: Steps, label: str, factory: Callable[..., Any]) -> Callable[..., Any]:
    """A context-manager factory whose enter and exit are each timed as ``label``."""

    @contextlib.contextmanager
    def wrapped(*args: Any, **kwargs: Any) -> Iterator[Any]:
        stack = contextlib.ExitStack()
        with steps.step(label):
            value = stack.enter_context(factory(*args, **kwargs))
        try:
            yield value
        finally:
            with steps.step(label):
                stack.close()

    return wrapped


def _wrap_fn(steps: Steps, label: str | Callable[..., str], fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with steps.step(label(*args, **kwargs) if callable(label) else label):
            return fn(*args, **kwargs)

    return wrapped


def _tool_label(argv: list[object], **_: object) -> str:
    args = [str(a) for a in argv]
    command = next((a for a in args[1:] if not a.startswith("-")), "")
    return f"`{Path(args[0]).name} {command}` (subprocess)"


@contextlib.contextmanager
def instrumented(steps: Steps) -> Iterator[None]:
    """Time the parts of skillctl's push and pull; everything is restored on exit."""
    from skillctl.backends.crane import CraneBackend
    from skillctl.core import proc
    from skillctl.registry import transfer
    from skillctl.store.layout import Store

    patches: list[tuple[object, str, Any]] = [
        (proc, "run", _wrap_fn(steps, _tool_label, proc.run)),
        (
            transfer,
            "exported_layout",
            _wrap_cm(steps, "export layout (links, index.json, cleanup)", transfer.exported_layout),
        ),
        (
            transfer,
            "import_layout",
            _wrap_fn(steps, "import into store (move/copy blobs, parse)", transfer.import_layout),
        ),
        (transfer, "verify_blob", _wrap_fn(steps, "verify blobs (sha256)", transfer.verify_blob)),
        (Store, "set_tag", _wrap_fn(steps, "tag in index.json (lock, rewrite)", Store.set_tag)),
        (CraneBackend, "_env", _wrap_cm(steps, "crane env (credentials, temp DOCKER_CONFIG)", CraneBackend._env)),
        (os, "fsync", _wrap_fn(steps, "fsync (blobs, index.json, dirs)", os.fsync)),
    ]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, replacement in patches:
            setattr(obj, name, replacement)
        yield
    finally:
        for obj, name, original in saved:
            setattr(obj, name, original)


# -- inputs --------------------------------------------------------------------------------------
@dataclass
class Image:
    label: str  # "1 KB" / "50 MiB"
    ref: str  # local reference in the source store
    digest: str
    layer_digest: str
    layer_size: int
    content_bytes: int
    layout: Path  # an equivalent one-image OCI layout for the bare tools (ref.name LAYOUT_TAG)
    runs: int
    unit: str = "ms"
    remote: dict[str, str] = field(default_factory=dict)  # pull source per registry host


def write_layout(store: Any, manifest: Any, layout: Path) -> None:
    """The layout skillctl exports for a push, made once: blobs hard-linked from the store."""
    from skillctl.core import oci

    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for desc in (manifest.descriptor, manifest.config, *manifest.layers):
        os.link(store.blob_path(desc.digest), blobs / desc.digest.split(":", 1)[1])
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entry = {**manifest.descriptor.to_json(), "annotations": {oci.REF_NAME: LAYOUT_TAG}}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


def prepare_images(work: Path, sizes: TransferSizes) -> tuple[Any, list[Image]]:
    from skillctl import Store, pack

    store = Store(work / "xfer-store")
    images = []
    for label, make, runs in (
        ("1 KB", lambda root: make_small_skill(root, name="bench-xfer-small"), sizes.small_runs),
        (
            f"{sizes.big_bytes / MiB:.0f} MiB",
            lambda root: make_big_skill(root, sizes.big_bytes, name="bench-xfer-big"),
            sizes.big_runs,
        ),
    ):
        root = work / f"xfer-skill-{len(images)}"
        make(root)
        content = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        result = pack(root, store=store)
        manifest = store.manifest(result.digest)
        layout = work / f"xfer-layout-{len(images)}"
        write_layout(store, manifest, layout)
        layer = manifest.layers[0]
        images.append(Image(label, result.ref, result.digest, layer.digest, layer.size, content, layout, runs))
        log(f"transfer input {label}: {content:,} bytes of files, layer {layer.size:,} bytes, {result.ref}")
    return store, images


# -- the bare tools ------------------------------------------------------------------------------
class Bare:
    """The argv of each tool doing the copy skillctl does, without skillctl."""

    def __init__(self, work: Path) -> None:
        self.skopeo = ["skopeo"]
        if not _POLICY.exists():  # skillctl's skopeo backend does the same
            policy = work / "policy.json"
            policy.write_text(_ACCEPT_ALL)
            self.skopeo.append(f"--policy={policy}")

    def push(self, tool: str, layout: Path, dest: str) -> list[str]:
        if tool == "crane":
            return ["crane", "push", "--insecure", str(layout), dest]
        return [
            *self.skopeo,
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"oci:{layout}:{LAYOUT_TAG}",
            f"docker://{dest}",
        ]

    def pull(self, tool: str, src: str, layout: Path) -> list[str]:
        if tool == "crane":
            return ["crane", "pull", "--insecure", "--format=oci", src, str(layout)]
        return [
            *self.skopeo,
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
            f"docker://{src}",
            f"oci:{layout}:{LAYOUT_TAG}",
        ]


def _check_layout(layout: Path, image: Image) -> None:
    """The bare pull wrote the image: its manifest and layer are there (checked outside the timing)."""
    index = json.loads((layout / "index.json").read_bytes())
    digests = [m["digest"] for m in index.get("manifests") or []]
    layer = layout / "blobs" / "sha256" / image.layer_digest.split(":", 1)[1]
    if image.digest not in digests or not layer.is_file() or layer.stat().st_size != image.layer_size:
        raise RuntimeError(f"bare pull into {layout} did not produce {image.digest}")


def _alternate(runs: int, ours: Callable[[int], None], bare: Callable[[int], None]) -> None:
    for i in range(runs):
        for step in (ours, bare) if i % 2 == 0 else (bare, ours):
            step(i)


def _row(what: str, ours: list[float], bare: list[float], bare_what: str, *, info: bool) -> Row:
    median, base = statistics.median(ours), statistics.median(bare)
    return Row(
        what=what,
        skillctl=median,
        baseline=base,
        baseline_what=bare_what,
        goal="info (no goal)" if info else f"≤ {GOAL_RATIO}x",
        passed=info or median / base <= GOAL_RATIO,
        unit="ms",
        info=info,
    )


def _ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.0f} ms"


def _runs_note(what: str, ours: list[float], bare: list[float]) -> str:
    def ms(times: list[float]) -> str:
        return ", ".join(f"{t * 1000:.0f}" for t in times)

    return f"{what}: skillctl {ms(ours)} ms; bare {ms(bare)} ms."


# -- the benchmarks ------------------------------------------------------------------------------
class TransferBench:
    def __init__(self, work: Path, sizes: TransferSizes, notes: list[str]) -> None:
        from skillctl.backends.base import RegistryOptions

        self.work = work
        self.sizes = sizes
        self.notes = notes
        self.opts = RegistryOptions(tls_verify=False)
        self.bare = Bare(work)
        self.steps = Steps()
        self.bare_times: dict[str, list[float]] = defaultdict(list)
        self.used_ports: set[int] = set()
        self.changed: set[str] = set()
        self._registries = 0
        self._stores = 0
        self.store, self.images = prepare_images(work, sizes)
        self.tools = {t: shutil.which(t) is not None for t in (*EXACT_BACKENDS, *INFO_BACKENDS)}
        missing = [t for t, ok in self.tools.items() if not ok]
        if missing:
            notes.append(f"not installed, rows skipped: {', '.join(missing)}")
        if not self.tools["skopeo"]:
            raise RuntimeError("skopeo is needed for the push and pull benchmarks (apt-get install skopeo)")

    def push_store(self) -> Any:
        """A copy of the pristine source store (blobs hard-linked): every push starts from the same state.

        A push tags the destination in the store, and a podman/buildah push also pulls the re-compressed
        layer back into it; a shared store would make later runs cheaper than the first.
        """
        from skillctl import Store

        self._stores += 1
        root = self.work / "push-stores" / f"s{self._stores}"
        shutil.copytree(self.store.root, root, copy_function=os.link)
        return Store(root)

    def registry(self) -> Registry:
        self._registries += 1
        return Registry(self.work / "registries" / f"r{self._registries}", self.used_ports)

    def _skillctl_push(self, key: str, image: Image, backend: str, dest: str) -> float:
        from skillctl.registry.transfer import push

        results = []
        store = self.push_store()
        with instrumented(self.steps):
            seconds = self.steps.measure(
                key, lambda: results.append(push(image.ref, dest, store=store, backend=backend, opts=self.opts))
            )
        shutil.rmtree(store.root)
        result = results[0]
        if backend in EXACT_BACKENDS and result.digest != image.digest:
            raise RuntimeError(f"{backend} push stored {result.digest}, expected {image.digest}")
        if result.digest_changed and key not in self.changed:
            self.changed.add(key)
            self.notes.append(
                f"{key}: the registry's digest is {result.digest[:19]}…, not the local {image.digest[:19]}… "
                f"({backend} re-compressed the layer; skillctl checked config and annotations, then pulled the "
                "registry's manifest back into the store, which is in the time)"
            )
        return seconds

    # -- push ------------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Untimed: load skillctl's lazily imported modules and each tool binary into the page cache."""
        small = self.images[0]
        with self.registry() as reg:
            for backend in (b for b in (*EXACT_BACKENDS, *INFO_BACKENDS) if self.tools[b]):
                from skillctl.registry.transfer import pull, push

                dest = f"{reg.host}/warm/{backend}:{REMOTE_TAG}"
                push(small.ref, dest, store=self.push_store(), backend=backend, opts=self.opts)
                if backend in EXACT_BACKENDS:
                    from skillctl import Store

                    pull(dest, store=Store(self.work / f"warm-pull-{backend}"), backend=backend, opts=self.opts)
                    run_quiet(self.bare.push(backend, small.layout, f"{reg.host}/warm/{backend}-bare:{REMOTE_TAG}"))
                    run_quiet(self.bare.pull(backend, dest, self.work / f"warm-bare-pull-{backend}"))
        self.steps.samples.clear()

    def bench_push(self, backend: str, image: Image, rows: list[Row]) -> None:
        info = backend in INFO_BACKENDS
        bare_tool = "skopeo" if info else backend
        key = f"push, {backend}, {image.label}"
        ours: list[float] = []
        bare: list[float] = []

        def run_ours(i: int) -> None:
            with self.registry() as reg:
                dest = f"{reg.host}/bench/{backend}-{image.label.replace(' ', '')}-skillctl-{i}:{REMOTE_TAG}".lower()
                ours.append(self._skillctl_push(key, image, backend, dest))
                if not info and not reg.has_blob(image.layer_digest, image.layer_size):
                    raise RuntimeError(f"{dest}: the layer is not in the registry after the push")

        def run_bare(i: int) -> None:
            with self.registry() as reg:
                dest = f"{reg.host}/bench/{bare_tool}-{image.label.replace(' ', '')}-bare-{i}:{REMOTE_TAG}".lower()
                bare.append(time_call(lambda: run_quiet(self.bare.push(bare_tool, image.layout, dest))))
                if not reg.has_blob(image.layer_digest, image.layer_size):
                    raise RuntimeError(f"{dest}: the layer is not in the registry after the bare push")

        _alternate(image.runs, run_ours, run_bare)
        self.bare_times[key] = bare
        log(f"{key}: skillctl {_ms(ours)}, bare {bare_tool} {_ms(bare)} (medians)")
        bare_what = f"`{bare_tool} {'copy' if bare_tool == 'skopeo' else 'push'}` (bare)"
        rows.append(
            _row(f"`push` {image.label} skill, {backend} (median of {image.runs})", ours, bare, bare_what, info=info)
        )
        self.notes.append(_runs_note(key, ours, bare))

    # -- pull ------------------------------------------------------------------------------------
    def seed(self, reg: Registry) -> None:
        for image in self.images:
            src = f"{reg.host}/bench/pull-{image.label.replace(' ', '').lower()}:{REMOTE_TAG}"
            run_quiet(self.bare.push("skopeo", image.layout, src))
            image.remote[reg.host] = src

    def bench_pull(self, backend: str, image: Image, reg: Registry, rows: list[Row]) -> None:
        from skillctl import Store
        from skillctl.registry.transfer import pull

        src = image.remote[reg.host]
        key = f"pull, {backend}, {image.label}"
        ours: list[float] = []
        bare: list[float] = []

        def run_ours(i: int) -> None:
            store = Store(self.work / f"pull-store-{backend}-{i}")
            store.init()  # an empty store, created outside the timing
            results = []
            with instrumented(self.steps):
                ours.append(
                    self.steps.measure(
                        key, lambda: results.append(pull(src, store=store, backend=backend, opts=self.opts))
                    )
                )
            if results[0].digest != image.digest:
                raise RuntimeError(f"{backend} pull stored {results[0].digest}, expected {image.digest}")
            shutil.rmtree(store.root)

        def run_bare(i: int) -> None:
            layout = self.work / f"pull-bare-{backend}-{i}"
            bare.append(time_call(lambda: run_quiet(self.bare.pull(backend, src, layout))))
            _check_layout(layout, image)
            shutil.rmtree(layout)

        _alternate(image.runs, run_ours, run_bare)
        self.bare_times[key] = bare
        log(f"{key}: skillctl {_ms(ours)}, bare {backend} {_ms(bare)} (medians)")
        bare_what = f"`{backend} {'copy' if backend == 'skopeo' else 'pull'}` (bare)"
        rows.append(
            _row(f"`pull` {image.label} skill, {backend} (median of {image.runs})", ours, bare, bare_what, info=False)
        )
        self.notes.append(_runs_note(key, ours, bare))

    # -- report ----------------------------------------------------------------------------------
    def breakdown(self) -> list[str]:
        """A Markdown table: mean time of each step of skillctl's calls, next to the bare tool's mean."""
        lines = [
            "## Where skillctl's time goes (push and pull)",
            "",
            "Mean over the timed runs. Each step's time excludes the steps nested in it; "
            "*other* is the rest (backend selection, reading the local manifest, parsing, temporary directories).",
            "",
            "| skillctl call | total | bare tool | steps (mean per run) |",
            "|---|---:|---:|---|",
        ]
        for key, samples in self.steps.samples.items():
            total = statistics.fmean(t for t, _ in samples)
            labels = sorted({label for _, s in samples for label in s})
            means = {label: statistics.fmean(s.get(label, 0.0) for _, s in samples) for label in labels}
            means["other"] = total - sum(means.values())
            parts = [
                f"{label} {value * 1000:.1f} ms ({value / total:.0%})"
                for label, value in sorted(means.items(), key=lambda kv: -kv[1])
            ]
            bare = self.bare_times.get(key)
            bare_text = f"{statistics.fmean(bare) * 1000:.1f} ms" if bare else "-"
            lines.append(f"| {key} | {total * 1000:.1f} ms | {bare_text} | {'; '.join(parts)} |")
        return lines


def run_transfer(work: Path, sizes: TransferSizes, which: set[str], notes: list[str]) -> tuple[list[Row], list[str]]:
    """Run the push and/or pull benchmarks; return the table rows and the breakdown section."""
    if registry_binary() is None:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    bench = TransferBench(work, sizes, notes)
    notes.append(
        "transfer inputs: "
        + "; ".join(
            f"{i.label} skill = {i.content_bytes:,} bytes of files, layer {i.layer_size:,} bytes" for i in bench.images
        )
        + ". Every timed push goes to a registry started for it (new port, empty storage), see bench/README.md."
    )
    log("transfer: warm-up")
    bench.warm_up()
    rows: list[Row] = []
    if "push" in which:
        for backend in (*EXACT_BACKENDS, *INFO_BACKENDS):
            if bench.tools[backend]:
                for image in bench.images:
                    bench.bench_push(backend, image, rows)
    if "pull" in which:
        with bench.registry() as reg:
            bench.seed(reg)
            for backend in EXACT_BACKENDS:
                if bench.tools[backend]:
                    for image in bench.images:
                        bench.bench_pull(backend, image, reg, rows)
    return rows, bench.breakdown()


def tool_versions() -> str:
    def first_line(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
            return out.splitlines()[0] if out else f"{argv[0]}: no version"
        except (OSError, subprocess.TimeoutExpired):
            return f"{argv[0]}: not found"

    crane = first_line(["crane", "version"])
    return "; ".join(
        [
            first_line(["skopeo", "--version"]),
            f"crane {crane}" if not crane.startswith("crane") else crane,
            first_line(["podman", "--version"]),
            first_line(["buildah", "--version"]),
            first_line([registry_binary() or "docker-registry", "--version"]),
        ]
    )
