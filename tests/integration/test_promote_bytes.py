"""A remote promotion uploads no blob: the bytes it sends do not depend on the skill's size.

A tiny byte-counting TCP proxy sits in front of the plain-HTTP registry and the
promotion talks to ``127.0.0.1:PROXYPORT/...``; everything the tool sends to the
registry (client -> registry) and receives back is counted.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time

import pytest
from helpers import make_skill
from registry import Registry, need_tool

from skillctl import Store, pack
from skillctl.backends.base import RegistryOptions
from skillctl.core import oci
from skillctl.image.pack import PackResult
from skillctl.lifecycle.promote import promote
from skillctl.registry import transfer

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
LIMIT = 64 * 1024


class CountingProxy:
    """Forward ``127.0.0.1:<port>`` to a loopback upstream and count the bytes each way.

    Bounded: at most ``max_connections`` connections; every thread stops on EOF, on
    an error, on ``close()``, or by itself ``lifetime`` seconds after the start.
    """

    def __init__(self, upstream: tuple[str, int], *, lifetime: float = 60.0, max_connections: int = 256) -> None:
        if upstream[0] != "127.0.0.1":
            raise ValueError("the proxy forwards to loopback only")
        self.upstream = upstream
        self.sent = 0  # client -> registry
        self.received = 0  # registry -> client
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + lifetime
        self._max = max_connections
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(32)
        self.port = int(self._listener.getsockname()[1])
        self._start(self._accept)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while self._running():
            ready, _, _ = select.select([self._listener], [], [], 0.1)
            if not ready:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                break
            with self._lock:
                self.connections += 1
                too_many = self.connections > self._max
            if too_many:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            client.settimeout(10)
            self._sockets += [client, upstream]
            self._start(self._pump, client, upstream, True)
            self._start(self._pump, upstream, client, False)
        self._stop.set()

    def _pump(self, src: socket.socket, dst: socket.socket, upward: bool) -> None:
        while self._running():
            try:
                ready, _, _ = select.select([src], [], [], 0.1)
                if not ready:
                    continue
                data = src.recv(65536)
                if not data:
                    break
                with self._lock:
                    if upward:
                        self.sent += len(data)
                    else:
                        self.received += len(data)
                dst.sendall(data)
            except (OSError, ValueError):
                break
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> CountingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def insecure() -> RegistryOptions:
    return RegistryOptions(tls_verify=False, timeout=120)


Packed = dict[str, tuple[Store, PackResult]]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Packed:
    """A 50 MB skill of random bytes and a 1 KB one, otherwise alike, each packed once into its own store."""
    root = tmp_path_factory.mktemp("promote-bytes")
    out = {}
    for label, size in (("50 MB", 50 * MiB), ("1 KB", 1024)):
        name = label.replace(" ", "")
        skill = make_skill(root / name, "sized", files={"data/payload.bin": os.urandom(size)})
        store = Store(root / f"store-{name}")
        out[label] = (store, pack(skill, store=store))
    return out


def _through_proxy(registry: Registry, repo: str) -> tuple[CountingProxy, str]:
    port = int(registry.host.rsplit(":", 1)[1])
    proxy = CountingProxy(("127.0.0.1", port))
    return proxy, repo.replace(registry.host, proxy.host, 1)


def test_the_proxy_counts_what_passes(registry, images, tmp_path):
    need_tool("skopeo")
    store, small = images["1 KB"]
    repo = registry.repo()
    proxy, via = _through_proxy(registry, repo)
    with proxy:
        transfer.push(small.ref, f"{via}:1.0.0-draft", store=store, backend="skopeo", opts=insecure())
    # A push through the proxy is counted: at least the layer, config and manifest went up.
    manifest = small.manifest
    assert proxy.sent >= manifest.layers[0].size + manifest.config.size + len(manifest.raw)
    assert registry.digest(f"{repo}:1.0.0-draft") == small.digest


@pytest.mark.parametrize("backend", ["skopeo", "crane"])
def test_remote_promotion_sends_under_64_kb_whatever_the_size(backend, registry, images):
    need_tool(backend)
    need_tool("skopeo")
    counted: dict[str, tuple[int, int]] = {}
    for label, (store, image) in images.items():
        layer = image.manifest.layers[0]
        repo = registry.repo()
        transfer.push(image.ref, f"{repo}:1.0.0-draft", store=store, backend="skopeo", opts=insecure())
        proxy, via = _through_proxy(registry, repo)
        with proxy:
            result = promote(f"{via}:1.0.0-draft", "testing", backend=backend, opts=insecure())
        counted[label] = (proxy.sent, proxy.received)

        # The promotion happened, through the proxy, and moved no content.
        assert proxy.connections > 0
        assert registry.digest(f"{repo}:1.0.0-testing") == result.digest
        new = registry.manifest_json(f"{repo}:1.0.0-testing")
        assert new["annotations"][oci.STATUS] == "testing"
        assert new["layers"][0]["digest"] == layer.digest
        assert new["config"]["digest"] == image.manifest.config.digest
        # The new manifest went up, so the count is real; the layer did not.
        assert proxy.sent >= len(registry.manifest(f"{repo}:1.0.0-testing") or b"")
        assert proxy.sent < LIMIT, f"{label}: {proxy.sent} bytes sent"
        assert proxy.received < LIMIT, f"{label}: {proxy.received} bytes received (a layer was read?)"

    assert images["50 MB"][1].manifest.layers[0].size > 50 * MiB  # random data does not compress
    (big_sent, big_received), (small_sent, small_received) = counted["50 MB"], counted["1 KB"]
    # About the same for 50 MB as for 1 KB: only the manifest's size digits and the layer digest differ.
    assert abs(big_sent - small_sent) <= max(2048, small_sent // 4), counted
    assert abs(big_received - small_received) <= max(2048, small_received // 4), counted
