"""Every command and every option, with hostile values: a documented exit code, one ``Error:`` line, no crash.

The command tree is read from Click, so a new command or option is swept without touching this file; a
command without a baseline below fails the test that checks the table is complete. Each command runs once
per (parameter, hostile value) with everything else valid, against its own copy of a small store, from a
working directory deep inside the test's temporary directory (so ``../..`` stays inside it). Registry
references name a closed loopback port, so nothing waits on the network.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from registry import free_port

from skillctl.cli.app import cli
from skillctl.core.errors import ExitCode

HOSTILE = {
    "empty": "",
    "newline": "ns/x\n:1.0.0",
    "unicode": "ünïcødé/skïll:1.0",
    "escape": "\x1b[2J\x1b]0;owned\x07",
    "invalid-utf8": os.fsdecode(b"bad-\xff\xfe-bytes"),
    "long": "x" * 5000,
    "malformed-ref": "Bad//Ref::tag@sha256:zz",
    "traversal": "../../etc/passwd",
}
DOCUMENTED = {int(c) for c in ExitCode if int(c) <= int(ExitCode.DRIFT)}  # 0-11; 70 is a bug, 130+ are signals
CLOSED = f"127.0.0.1:{free_port()}"
REMOTE = f"{CLOSED}/ns/skill:1.0.0"


@dataclass
class World:
    """What baselines name: a skill, a packed image, a bundle, keys, a collection file, a project."""

    root: Path
    store: Path
    skill: Path
    ref: str
    bundle: Path
    key: Path
    pub: Path
    collection: Path
    out: Path
    project: Path


# Valid values for each command's parameters (by Click parameter name); TOKENS are filled from the World.
BASELINES: dict[str, dict[str, object]] = {
    "validate": {"paths": ["SKILL"]},
    "init": {"directory": "NEW"},
    "pack": {"paths": ["SKILL"]},
    "list": {},
    "inspect": {"ref": "REF"},
    "tag": {"source": "REF", "target": "ns/other:1.0.0"},
    "rm": {"refs": ["REF"], "force": True},
    "prune": {},
    "push": {"ref": "REF", "dest": REMOTE},
    "pull": {"ref": REMOTE},
    "login": {"registry_host": CLOSED, "username": "user", "password_stdin": True},
    "logout": {"registry_host": CLOSED},
    "promote": {"ref": "REF", "to": "testing", "local": True},
    "install": {"ref": "REF", "output": "OUT"},
    "upgrade": {"all_": True, "output": "OUT"},
    "uninstall": {"names": ["skill"], "output": "OUT"},
    "kube": {"refs": [REMOTE], "no_pin": True, "kind": "patch"},
    "collection push": {"ref": f"{CLOSED}/ns/coll:1.0.0", "file": "COLLECTION"},
    "collection pull": {"ref": f"{CLOSED}/ns/coll:1.0.0"},
    "collection volume": {"file": "COLLECTION"},
    "collection generate": {"file": "COLLECTION", "kind": "patch", "no_pin": True},
    "collection install": {"file": "COLLECTION", "output": "OUT"},
    "keygen": {"output_dir": "KEYS"},
    "sign": {"ref": REMOTE, "key": "KEY"},
    "verify": {"ref": REMOTE, "key": "PUB"},
    "mirror": {"sources": [f"{CLOSED}/ns/skill", f"{CLOSED}/mirror"]},
    "save": {"refs": ["REF"], "output": "BUNDLE_OUT"},
    "load": {"bundle": "BUNDLE"},
    "completion": {"shell": "bash"},
    "version bump": {"part": "patch", "path": "SKILL"},
    "add": {"ref": REMOTE, "project": "PROJECT"},
    "remove": {"name": "skill", "project": "PROJECT"},
    "sync": {"project": "PROJECT"},
    "update": {"project": "PROJECT"},
    "outdated": {"project": "PROJECT"},
    "lint": {"target": "SKILL"},
    "diff": {"old": "REF", "new": "REF"},
    "attest": {
        "ref": REMOTE,
        "key": "KEY",
        "predicate_type": "https://example.com/review/v1",
        "predicate": "PREDICATE",
    },
    "approve": {"ref": REMOTE, "key": "KEY"},
    "gates": {"ref": REMOTE, "to": "testing", "policy": "POLICY"},
    "history": {"ref": REMOTE, "policy": "POLICY"},
    "catalog export": {"fmt": "ai-catalog", "include_store": True, "output": "EXPORT_OUT"},
    # The servers: serve prints its Kubernetes objects and exits; mcp serves the store until stdin ends.
    "serve": {"print_kube": True, "image": "registry.example/skillctl:1", "registries": CLOSED},
    "mcp": {"include_store": True},
}
GLOBAL = "(global)"


def commands(group: click.Group = cli, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name in sorted(group.commands):
        command = group.commands[name]
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from commands(command, path + " ")
        else:
            yield path, command


def hostile_params(command: click.Command) -> list[click.Parameter]:
    """The parameters that take a value (flags and --help take none)."""
    return [
        p for p in command.params if not (isinstance(p, click.Option) and (p.is_flag or p.count or p.name == "help"))
    ]


def cases() -> Iterator[tuple[str, str, str]]:
    for path, command in commands():
        for param in hostile_params(command):
            for kind in HOSTILE:
                yield path, param.name or "", kind
    for param in hostile_params(cli):
        for kind in HOSTILE:
            yield GLOBAL, param.name or "", kind


def _resolve(value: object, world: World) -> object:
    tokens = {
        "SKILL": world.skill,
        "NEW": world.root / "new-skill",
        "REF": world.ref,
        "OUT": world.out,
        "COLLECTION": world.collection,
        "KEYS": world.root / "keys",
        "KEY": world.key,
        "PUB": world.pub,
        "BUNDLE": world.bundle,
        "BUNDLE_OUT": world.root / "saved.tar",
        "PROJECT": world.project,
        "PREDICATE": world.root / "predicate.json",
        "EXPORT_OUT": world.root / "catalog.json",
        "POLICY": world.root / "policy.yaml",
    }
    if isinstance(value, list):
        return [_resolve(v, world) for v in value]
    return tokens.get(value, value) if isinstance(value, str) else value


def argv_for(path: str, command: click.Command, values: dict[str, object], world: World) -> list[str]:
    args: list[str] = []
    for param in command.params:
        if param.name not in values:
            continue
        value = _resolve(values[param.name], world)
        if isinstance(param, click.Argument):
            args.extend(str(v) for v in (value if isinstance(value, list) else [value]))
        elif isinstance(param, click.Option):
            flag = max(param.opts, key=len)
            if param.is_flag:
                args.append(flag if value else (param.secondary_opts or [flag])[0])
            else:
                args.extend([flag, str(value)])
    return [*path.split(), *args]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A store with the example packed, a bundle of it, a key pair and a collection file."""
    from skillctl import Store
    from skillctl.airgap.mirror import save
    from skillctl.image.pack import pack
    from skillctl.trust.signing import generate_key_pair

    root = tmp_path_factory.mktemp("sweep")
    skill = root / "skill"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "hello-world", skill)
    store = root / "store"
    ref = pack(skill, store=Store(store)).ref
    bundle = root / "bundle.tar"
    save([ref], bundle, store=Store(store))
    key, pub = generate_key_pair(root / "keypair", b"pw")
    collection = root / "collection.yaml"
    collection.write_text(
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillCollection\nmetadata:\n  name: coll\n  version: 1.0.0\n"
        f"skills:\n  - name: skill\n    image: {REMOTE}\n"
    )
    (root / "predicate.json").write_text('{"result": "pass"}')
    (root / "policy.yaml").write_text(
        "apiVersion: skillimage.io/v1alpha1\nkind: PromotionPolicy\n"
        f"keys:\n  ci: {pub.relative_to(root)}\nstates:\n  testing:\n    - scan: {{signers: [ci]}}\n"
    )
    project = root / "project"
    project.mkdir()
    (project / "skills.yaml").write_text(
        "apiVersion: skillimage.io/v1alpha1\nkind: SkillProject\ntarget: ./skills\n"
        f"skills:\n  - repository: {CLOSED}/ns/skill\n"
    )
    return World(root, store, skill, ref, bundle, key, pub, collection, root / "out", project)


@pytest.fixture
def world(pristine: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """A private copy of the pristine world, and a working directory three levels below it."""
    root = tmp_path / "w"
    shutil.copytree(pristine.root, root, symlinks=True)
    cwd = root / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    moved = {k: (root / Path(v).relative_to(pristine.root)) if isinstance(v, Path) else v
             for k, v in pristine.__dict__.items()}  # fmt: skip
    moved["root"] = root
    return World(**moved)


def test_every_command_has_a_baseline() -> None:
    assert sorted(BASELINES) == sorted(path for path, _ in commands())


@pytest.mark.parametrize("path", sorted(BASELINES))
def test_every_baseline_runs(path: str, world: World) -> None:
    """Each baseline alone is valid: what the sweep changes is the only wrong thing."""
    command = dict(commands())[path]
    argv = ["--store", str(world.store), *argv_for(path, command, BASELINES[path], world)]
    result = CliRunner().invoke(cli, argv, input="pw\n", catch_exceptions=False)
    assert not _check(result), (argv, result.exit_code, result.stderr)
    # What may fail it: the closed port (7, or 1 for a collection's outcomes) and uninstalling or removing
    # nothing (4).
    assert result.exit_code in (0, 1, 4, 7), (argv, result.exit_code, result.stderr)


@pytest.mark.parametrize(("path", "param"), sorted({(p, n) for p, n, _ in cases()}))
def test_hostile_values(path: str, param: str, world: World) -> None:
    failures = []
    for kind, value in HOSTILE.items():
        if path == GLOBAL:
            flag = max(next(p for p in cli.params if p.name == param).opts, key=len)  # type: ignore[attr-defined]
            argv = [flag, value, "list"]
        else:
            command = dict(commands())[path]
            values = {**BASELINES[path], param: [value] if _is_variadic(command, param) else value}
            argv = ["--store", str(world.store), *argv_for(path, command, values, world)]
        result = CliRunner().invoke(cli, argv, input="pw\n", catch_exceptions=False)
        problem = _check(result)
        if problem:
            failures.append(f"{kind}: {problem}: exit {result.exit_code}: {result.stderr[-400:]!r}")
    assert not failures, "\n".join([f"skillctl {path} ({param}):", *failures])


def _is_variadic(command: click.Command, name: str) -> bool:
    return any(p.name == name and p.nargs == -1 for p in command.params)


def _check(result) -> str:  # type: ignore[no-untyped-def]
    if result.exit_code not in DOCUMENTED:
        return "undocumented exit code"
    output = result.stdout + result.stderr
    if "Traceback" in output:
        return "traceback"
    if "\x1b" in output or "\x07" in output:
        return "raw escape sequence in the output"
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    if result.exit_code and len(errors) != 1:
        return f"{len(errors)} Error: lines"
    return ""


def test_the_sweep_is_wide() -> None:
    """Every command with a value-taking parameter, every such parameter, every hostile value."""
    runs = list(cases())
    assert len({p for p, _, _ in runs}) == len([c for c in commands() if hostile_params(c[1])]) + 1
    assert len(runs) > 1000, len(runs)
    json.dumps(runs)
