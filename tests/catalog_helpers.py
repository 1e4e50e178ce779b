"""Helpers for the catalog and ``skillctl serve`` tests: images written straight into a real registry through its
API (any bytes, hostile ones too), and a real ``skillctl serve`` process on loopback."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from oci_helpers import TarEntry, directory, file, sha256, tar_bytes
from registry import Registry

from skillctl.core import oci

SKILLCTL = Path(sys.executable).parent / "skillctl"


def skill_md(name: str, description: str, body: str = "Do the thing.\n") -> str:
    return f"---\nname: {name}\ndescription: {description}\n---\n\n# {name}\n\n{body}"


def skill_entries(
    name: str, version: str, *, description: str = "A test skill.", body: str = "Do the thing.\n", extra=()
) -> list[TarEntry]:
    card = (
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCard\nmetadata:\n"
        f"  name: {name}\n  namespace: test\n  version: {version}\n  description: {description}\n"
        "spec:\n  prompt: SKILL.md\n"
    )
    return [
        file("SKILL.md", skill_md(name, description, body).encode()),
        file("skill.yaml", card.encode()),
        directory("scripts"),
        file("scripts/run.sh", b"#!/bin/sh\necho hi\n", 0o755),
        *extra,
    ]


def annotations(
    *,
    namespace: str,
    version: str,
    status: str = "published",
    title: str = "",
    description: str = "A test skill.",
    tags: list[str] | None = None,
    compatibility: str = "",
    words: int = 0,
    authors: str = "",
    license: str = "",
) -> dict[str, str]:
    ann = {
        oci.TITLE: title,
        oci.DESCRIPTION: description,
        oci.VERSION: version,
        oci.VENDOR: namespace,
        oci.STATUS: status,
    }
    if tags:
        ann[oci.SKILL_TAGS] = json.dumps(tags, separators=(",", ":"))
    if compatibility:
        ann[oci.COMPATIBILITY] = compatibility
    if words:
        ann[oci.WORDCOUNT] = str(words)
    if authors:
        ann[oci.AUTHORS] = authors
    if license:
        ann[oci.LICENSES] = license
    return ann


def upload_blob(reg: Registry, path: str, data: bytes) -> str:
    """Monolithic upload (POST then PUT), as the distribution spec describes it."""
    digest = sha256(data)
    status, headers, body = reg.request("POST", f"/v2/{path}/blobs/uploads/")
    assert status == 202, f"POST upload: HTTP {status} {body[:200]!r}"
    location = headers.get("Location") or headers.get("location")
    parts = urllib.parse.urlsplit(location)
    query = [*urllib.parse.parse_qsl(parts.query), ("digest", digest)]
    target = parts.path + "?" + urllib.parse.urlencode(query)
    status, _, body = reg.request(
        "PUT", target, data=data, headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
    )
    assert status == 201, f"PUT blob: HTTP {status} {body[:200]!r}"
    return digest


def put_skill(
    reg: Registry,
    path: str,
    tag: str,
    *,
    entries: list[TarEntry] | None = None,
    layer: bytes | None = None,
    ann: Mapping[str, str] | None = None,
    layer_media_type: str = oci.LAYER_TAR_GZIP,
) -> str:
    """Push a one-layer image to ``reg`` as ``path:tag`` (``path`` without the host); returns its digest."""
    raw_tar = tar_bytes(entries or [])
    gz = layer if layer is not None else gzip.compress(raw_tar, mtime=0)
    layer_digest = upload_blob(reg, path, gz)
    config = oci.build_config(sha256(raw_tar))
    config_digest = upload_blob(reg, path, config)
    raw = oci.build_manifest(
        oci.Descriptor(oci.CONFIG_V1, config_digest, len(config)),
        [oci.Descriptor(layer_media_type, layer_digest, len(gz))],
        dict(ann or {}),
    )
    return reg.put_manifest(f"{reg.host}/{path}", tag, raw)


def put_raw_manifest(reg: Registry, path: str, tag: str, raw: bytes, media_type: str = oci.MANIFEST_V1) -> int:
    """PUT any bytes as a manifest; returns the HTTP status."""
    status, _, _ = reg.request("PUT", f"/v2/{path}/manifests/{tag}", headers={"Content-Type": media_type}, data=raw)
    return status


def delete_tag(reg: Registry, path: str, tag: str) -> None:
    digest = reg.digest(f"{reg.host}/{path}:{tag}")
    status, _, _ = reg.request("DELETE", f"/v2/{path}/manifests/{digest}")
    assert status == 202, f"DELETE {path}@{digest}: HTTP {status}"


# -- a running `skillctl serve` ------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    log: list[str] = field(default_factory=list)
    ca: Path | None = None

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lowercase names, body) for any status."""
        import ssl

        context = ssl.create_default_context(cafile=str(self.ca)) if self.ca else None
        req = urllib.request.Request(self.url + path, method=method, headers=headers or {}, data=data)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()

    def json(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, _headers, body = self.request(path, **kwargs)
        return status, json.loads(body) if body else None

    def wait_ready(self, deadline: float = 60) -> dict:
        end = time.monotonic() + deadline
        last: Any = None
        while time.monotonic() < end:
            if self.process.poll() is not None:
                pytest.fail(f"skillctl serve exited with {self.process.returncode}:\n" + "".join(self.log))
            status, last = self.json("/readyz")
            if status == 200:
                return last
            time.sleep(0.1)
        pytest.fail(f"skillctl serve was not ready within {deadline}s: {last}\n" + "".join(self.log))

    def wait_for(self, check, deadline: float = 30) -> dict:
        """Poll ``/readyz`` until ``check(body)`` holds; returns that body."""
        end = time.monotonic() + deadline
        body: Any = None
        while time.monotonic() < end:
            _, body = self.json("/readyz")
            if check(body):
                return body
            time.sleep(0.1)
        pytest.fail(f"readyz never matched: {body}")

    def sync(self, headers: dict[str, str] | None = None) -> dict:
        """Trigger a sync and wait until it finished (``syncs`` went up)."""
        _, before = self.json("/readyz")
        for _ in range(100):
            status, _ = self.json("/api/v1/sync", method="POST", headers=headers)
            if status == 202:
                break
            time.sleep(0.1)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            _, now = self.json("/readyz")
            if now["syncs"] > before["syncs"] and not now["syncing"]:
                return now
            time.sleep(0.05)
        pytest.fail("the sync did not finish")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


@contextlib.contextmanager
def serving(
    *args: str, env: dict[str, str] | None = None, ca: Path | None = None, global_args: tuple[str, ...] = ()
) -> Iterator[Server]:
    """``skillctl GLOBAL_ARGS serve ARGS --port 0`` until the block ends; the URL is read from its first line."""
    process = subprocess.Popen(
        [str(SKILLCTL), *global_args, "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    log: list[str] = []
    assert process.stdout is not None
    url = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        log.append(line)
        match = re.search(r"(https?://\S+)", line)
        if match:
            url = match.group(1)
            break
    if url is None:
        process.kill()
        process.wait(timeout=10)
        rest = process.stdout.read()
        pytest.fail(f"skillctl serve did not start (exit {process.returncode}):\n{''.join(log)}{rest}")
    threading.Thread(target=lambda: log.extend(process.stdout), daemon=True).start()  # type: ignore[arg-type]
    server = Server(process, url, log, ca)
    try:
        yield server
    finally:
        server.stop()
