"""Publishing skills (with dependencies) to a real registry for the lock and sync tests, and running the CLI."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

import yaml
from click.testing import CliRunner, Result
from helpers import make_skill

from skillctl import Store, pack
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.lifecycle.promote import with_status
from skillctl.registry.transfer import push

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"


def skill_source(root: Path, name: str, version: str, deps: dict[str, str] | None = None) -> Path:
    """A skill directory whose files say which version it is, with ``spec.dependencies`` from ``deps``."""
    files: dict[str, str | bytes] = {
        "scripts/run.sh": f"#!/bin/sh\necho {name} {version}\n",
        "data/nonce.txt": secrets.token_hex(8) + "\n",
        "VERSION": f"{name} {version}\n",
    }
    skill = make_skill(root / f"{name}-{version}", name, version=version, files=files)
    (skill / "scripts" / "run.sh").chmod(0o755)
    if deps:
        card = skill / "skill.yaml"
        lines = "".join(f"    - name: {n}\n      version: '{r}'\n" for n, r in deps.items())
        card.write_text(card.read_text() + "  dependencies:\n" + lines)
    return skill


def publish(
    store: Store, repo: str, source: Path, version: str, state: str = "published", opts: RegistryOptions = OPTS
) -> str:
    """Pack ``source`` and push it as ``repo:version`` in ``state`` (the bytes ``promote`` would write)."""
    result = pack(source, store=store, tag=f"{repo}:{version}-draft")
    manifest = with_status(result.manifest, state)
    with store.writing():
        store.put_blob(manifest.raw)
        store.set_tag(f"{repo}:{version}", manifest.descriptor, dict(manifest.annotations))
    return push(f"{repo}:{version}", store=store, opts=opts).digest


def run(store_path: Path, *args: object, cwd: Path | None = None) -> Result:
    """``skillctl --store STORE ARGS...`` in-process (in ``cwd`` when given)."""
    import os

    argv = ["--store", str(store_path), *(str(a) for a in args)]
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, argv, catch_exceptions=False, prog_name="skillctl")
    finally:
        os.chdir(old)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def failed(result: Result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def packaged_files_of(root: Path) -> dict[str, object]:
    """An installed skill's files as packaged: skill.yaml compared without what install records in it for the
    Go tool (``provenance``, and the version it sets from the tag)."""
    files: dict[str, object] = dict(files_of(root))
    card = files.get("skill.yaml")
    if isinstance(card, bytes):
        doc = yaml.safe_load(card)
        doc.pop("provenance", None)
        doc.get("metadata", {}).pop("version", None)
        files["skill.yaml"] = doc
    return files


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file under a project directory (manifest, lock, installed skills, receipts)."""
    return files_of(project)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
