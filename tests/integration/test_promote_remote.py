"""Promotion on a real registry (CNCF distribution), through every backend.

skopeo and crane write the new manifest themselves (a sparse layout: manifest and
config, no layer). podman and buildah cannot do that safely (their storage merges
annotation-only variants), so promotion falls back to skopeo or crane for reading,
writing, retagging and deleting, and says so; only podman's tag listing is its own.
The whole lifecycle therefore runs through all four; the scenarios that exercise
the shared promotion logic (latest, deletes, concurrency, interruption, invalid
steps) run through the two tools that do the writing, to keep the suite fast.

What the registry holds is read back directly over HTTP (``tests/registry.py``),
never through the code under test. Fixtures in states other than draft are made
by PUTting the re-annotated manifest straight into the registry, as another tool
would, so each test spends its promotions on what it checks.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from registry import Registry, need_tool, unique_skill

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core import oci
from skillctl.core.errors import LifecycleError, NotFoundError, ToolError
from skillctl.lifecycle.promote import PromoteResult, RemoteRepo, promote, with_status
from skillctl.registry import login, remote, transfer

pytestmark = pytest.mark.integration

BACKENDS = ("skopeo", "crane", "podman", "buildah")
WRITERS = ("skopeo", "crane")  # can write a manifest without its blobs
FALLBACK = frozenset({"podman", "buildah"})
STATES = ("draft", "testing", "published", "deprecated", "archived")
TIMEOUT = 120.0


# -- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    need_tool(request.param)
    need_tool("skopeo")  # seeds the registry; the fallback of podman and buildah
    return str(request.param)


@pytest.fixture(params=WRITERS)
def writer(request: pytest.FixtureRequest) -> str:
    need_tool(request.param)
    need_tool("skopeo")
    return str(request.param)


def insecure() -> RegistryOptions:
    return RegistryOptions(tls_verify=False, timeout=TIMEOUT)


def seed(tmp_path: Path, store: skillctl.Store, repo: str, version: str, opts: RegistryOptions | None = None) -> str:
    """Pack a fresh skill of ``version`` and push it (skopeo, byte for byte) as ``repo:<version>-draft``."""
    image = skillctl.pack(unique_skill(tmp_path / f"src-{version}", "demo", version=version), store=store)
    dest = f"{repo}:{version}-draft"
    assert transfer.push(image.ref, dest, store=store, backend="skopeo", opts=opts or insecure()).digest == image.digest
    return dest


def put_state(reg: Registry, draft_ref: str, state: str, *tags: str) -> str:
    """The draft re-annotated to ``state``, stored under ``tags`` (or by digest only); returns its digest."""
    repo = draft_ref.rpartition(":")[0]
    draft = reg.manifest(draft_ref)
    assert draft is not None
    raw = with_status(oci.Manifest.parse(draft), state).raw
    for tag in tags or (oci.sha256_digest(raw),):
        reg.put_manifest(repo, tag, raw)
    return oci.sha256_digest(raw)


def run(ref: str, to: str, backend: str, opts: RegistryOptions | None = None) -> PromoteResult:
    return promote(ref, to, backend=backend, opts=opts or insecure())


def cli_promote(ref: str, to: str, backend: str, *extra: str):
    return CliRunner().invoke(cli, ["promote", ref, "--to", to, "--tls-verify=false", "--backend", backend, *extra])


def tags(reg: Registry, repo: str) -> dict[str, str | None]:
    return {tag: reg.digest(f"{repo}:{tag}") for tag in reg.tags(repo)}


def status_of(reg: Registry, ref: str) -> str:
    return reg.manifest_json(ref)["annotations"][oci.STATUS]


def assert_same_content(manifests: dict[str, dict]) -> None:
    """Config and layer descriptors identical in every state; annotations differ only in the status."""
    draft = manifests["draft"]
    for state, manifest in manifests.items():
        assert manifest["config"] == draft["config"], state
        assert manifest["layers"] == draft["layers"], state
        assert manifest["annotations"][oci.STATUS] == state
        rest = {k: v for k, v in manifest["annotations"].items() if k != oci.STATUS}
        assert rest == {k: v for k, v in draft["annotations"].items() if k != oci.STATUS}, state


def assert_notes(result: PromoteResult, backend: str) -> None:
    if backend in FALLBACK:
        assert any(f"{backend} cannot write a manifest without its blobs" in n for n in result.notes), result.notes
        assert all(n.startswith(("using skopeo", "using crane")) for n in result.notes), result.notes
    else:
        assert result.notes == []


# -- the whole lifecycle, all four backends ------------------------------------------------------
def test_whole_lifecycle(backend, registry, tmp_path, store):
    repo = registry.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0")
    d = {"draft": registry.digest(draft_ref)}
    seen = {"draft": registry.manifest_json(draft_ref)}  # each state's manifest, read while it exists
    steps = [
        (draft_ref, "testing"),
        (f"{repo}:1.0.0-testing", "published"),
        (f"{repo}:1.0.0", "deprecated"),
        (f"{repo}:1.0.0", "archived"),  # by the version tag, as a user would
    ]
    for source, state in steps:
        result = run(source, state, backend)
        assert (result.state, result.changed, result.wrote) == (state, True, True)
        assert result.source_state == STATES[STATES.index(state) - 1]
        assert result.previous_digest == d[result.source_state]
        assert result.warnings == []
        assert_notes(result, backend)
        d[state] = result.digest
        seen[state] = registry.manifest_json(f"{repo}@{result.digest}")
        # The tags after each step, exactly as the table says.
        expected = {
            "testing": {"1.0.0-draft": d["draft"], "1.0.0-testing": d["testing"]},
            "published": {"1.0.0-draft": d["draft"], "1.0.0-testing": d["testing"], "1.0.0": result.digest,
                          "latest": result.digest},
            "deprecated": {"1.0.0-draft": d["draft"], "1.0.0-testing": d["testing"], "1.0.0": result.digest},
            "archived": {"1.0.0-draft": d["draft"], "1.0.0-testing": d["testing"]},
        }[state]  # fmt: skip
        assert tags(registry, repo) == expected, state
        assert result.removed == {"deprecated": ["latest"], "archived": ["1.0.0"]}.get(state, [])

        again = run(source, state, backend)  # a retry is a no-op (archived: the tag is gone, found by digest)
        assert (again.wrote, again.digest, again.removed, again.warnings) == (False, d[state], [], [])
        assert tags(registry, repo) == expected, state
        if state == "published":
            rows = {r.tag: (r.status, r.digest) for r in remote.list_remote(repo, backend=backend, opts=insecure())}
            assert rows == {
                "1.0.0-draft": ("draft", d["draft"]),
                "1.0.0-testing": ("testing", d["testing"]),
                "1.0.0": ("published", d["published"]),
                "latest": ("published", d["published"]),
            }

    assert len(set(d.values())) == 5
    assert_same_content(seen)
    assert registry.manifest(f"{repo}@{d['archived']}") is not None  # kept by digest only
    assert registry.manifest(f"{repo}@{d['deprecated']}") is None  # deleted to remove the 1.0.0 tag

    # Retrying the publish step of a pipeline after archiving never brings the version back.
    stale = run(f"{repo}:1.0.0-testing", "published", backend)
    assert stale.wrote is False and stale.digest == d["archived"]
    assert any("already archived" in w for w in stale.warnings), stale.warnings
    assert tags(registry, repo) == {"1.0.0-draft": d["draft"], "1.0.0-testing": d["testing"]}

    # The archived image is still pullable by digest (when asked for explicitly), and says it is archived.
    with pytest.raises(LifecycleError, match="archived"):
        transfer.pull(f"{repo}@{d['archived']}", store=store, backend=backend, opts=insecure())
    pulled = transfer.pull(f"{repo}@{d['archived']}", store=store, backend=backend, opts=insecure(),
                           output=tmp_path / "out", allow_archived=True)  # fmt: skip
    assert pulled.remote_digest == d["archived"]
    assert store.manifest(pulled.digest).annotations[oci.STATUS] == "archived"
    assert (tmp_path / "out" / "skill" / "SKILL.md").is_file()


def test_cli_promote_names_transition_digest_and_fallback(backend, registry, tmp_path, store):
    repo = registry.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0")
    res = cli_promote(draft_ref, "testing", backend)
    assert res.exit_code == 0, res.output
    testing = registry.digest(f"{repo}:1.0.0-testing")
    assert f"Promoted {draft_ref}: draft -> testing" in res.stdout
    assert f"Digest: {testing}" in res.stdout
    assert f"tag 1.0.0-testing -> {testing}" in res.stdout
    if backend in FALLBACK:
        assert f"{backend} cannot write a manifest without its blobs" in res.stderr
    res = cli_promote(draft_ref, "testing", backend, "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert (data["from"], data["to"], data["digest"], data["wrote"]) == ("draft", "testing", testing, False)
    assert bool(data["notes"]) == (backend in FALLBACK)


# -- latest --------------------------------------------------------------------------------------
def test_latest_rules(writer, registry, tmp_path, store):
    repo = registry.repo()
    published = {}
    for version in ("2.0.0", "1.0.1", "1.0.0-rc.1"):
        put_state(registry, seed(tmp_path, store, repo, version), "testing", f"{version}-testing")
        result = run(f"{repo}:{version}-testing", "published", writer)
        published[version] = result.digest
        # 1.0.1 published after 2.0.0, and the prerelease, leave latest on 2.0.0.
        assert registry.digest(f"{repo}:latest") == published["2.0.0"], version
        assert registry.digest(f"{repo}:{version}") == published[version]
        assert ("latest" in result.tags) == (version == "2.0.0")

    result = run(f"{repo}:2.0.0", "deprecated", writer)
    assert result.tags["latest"] == published["1.0.1"]
    assert registry.digest(f"{repo}:latest") == published["1.0.1"]
    # The 2.0.0 published manifest was still needed by nothing once latest moved; 2.0.0 is deprecated.
    assert status_of(registry, f"{repo}:2.0.0") == "deprecated"

    run(f"{repo}:2.0.0", "archived", writer)
    assert registry.digest(f"{repo}:latest") == published["1.0.1"]
    assert "2.0.0" not in registry.tags(repo)

    result = run(f"{repo}:1.0.1", "deprecated", writer)
    assert result.removed == ["latest"], result
    remaining = tags(registry, repo)
    assert "latest" not in remaining  # only the prerelease is published now, and it never becomes latest
    assert remaining["1.0.0-rc.1"] == published["1.0.0-rc.1"]
    # Removing latest deleted the 1.0.1 published manifest, which no other tag needed.
    assert registry.manifest(f"{repo}@{published['1.0.1']}") is None
    assert registry.manifest(f"{repo}@{published['1.0.0-rc.1']}") is not None


def test_latest_moves_off_an_archived_version_it_still_pointed_at(writer, registry, tmp_path, store):
    # latest can still point at a version being archived when an earlier removal was not possible.
    repo = registry.repo()
    old = put_state(registry, seed(tmp_path, store, repo, "1.0.0"), "published", "1.0.0")
    new_draft = seed(tmp_path, store, repo, "2.0.0")
    new_published = put_state(registry, new_draft, "published", "2.0.0", "latest")
    put_state(registry, new_draft, "deprecated", "2.0.0")  # deprecated by a tool that left latest alone
    assert registry.digest(f"{repo}:latest") == new_published
    result = run(f"{repo}:2.0.0", "archived", writer)
    assert result.tags["latest"] == old
    assert registry.digest(f"{repo}:latest") == old
    assert "2.0.0" not in registry.tags(repo)


# -- deletes -------------------------------------------------------------------------------------
def test_registry_with_deletes_disabled(writer, no_delete_registry, tmp_path, store):
    reg = no_delete_registry
    repo = reg.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0")
    published = put_state(reg, draft_ref, "published", "1.0.0", "latest")

    res = cli_promote(f"{repo}:1.0.0", "deprecated", writer)
    assert res.exit_code == 0, res.output
    assert "warning: kept tag latest: the registry has deletes disabled" in res.stderr
    deprecated = reg.digest(f"{repo}:1.0.0")
    assert status_of(reg, f"{repo}:1.0.0") == "deprecated"

    res = cli_promote(f"{repo}:1.0.0", "archived", writer)
    assert res.exit_code == 0, res.output
    assert f"Promoted {repo}:1.0.0: deprecated -> archived" in res.stdout
    assert "warning: kept tag 1.0.0: the registry has deletes disabled" in res.stderr
    assert "storage.delete.enabled" in res.stderr
    archived = next(line.split()[1] for line in res.stdout.splitlines() if line.startswith("Digest: "))
    assert f"kept by digest only: {repo}@{archived}" in res.stdout
    assert status_of(reg, f"{repo}@{archived}") == "archived"
    # Nothing could be deleted: every tag is where it was.
    assert tags(reg, repo) == {"1.0.0-draft": reg.digest(draft_ref), "1.0.0": deprecated, "latest": published}

    res = cli_promote(f"{repo}:1.0.0", "archived", writer, "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["digest"] == archived
    assert any("deletes disabled" in w for w in data["warnings"])


def test_a_tag_sharing_its_manifest_is_kept(writer, registry, tmp_path, store):
    repo = registry.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0")
    # Someone else tagged the published manifest "stable": deleting latest's manifest would delete stable too.
    published = put_state(registry, draft_ref, "published", "1.0.0", "latest", "stable")

    result = run(f"{repo}:1.0.0", "deprecated", writer)
    assert result.removed == []
    assert len(result.warnings) == 1, result.warnings
    assert "kept tag latest" in result.warnings[0] and "stable" in result.warnings[0]
    assert registry.digest(f"{repo}:stable") == registry.digest(f"{repo}:latest") == published
    deprecated = result.digest

    registry.put_manifest(repo, "old", registry.manifest(f"{repo}:1.0.0"))
    result = run(f"{repo}:1.0.0", "archived", writer)
    assert any("kept tag 1.0.0" in w and "old" in w for w in result.warnings), result.warnings
    assert result.removed == []
    after = tags(registry, repo)
    assert after == {
        "1.0.0-draft": registry.digest(draft_ref),
        "1.0.0": deprecated,
        "old": deprecated,
        "latest": published,
        "stable": published,
    }
    assert status_of(registry, f"{repo}@{result.digest}") == "archived"


# -- concurrency, interruption -------------------------------------------------------------------
def test_concurrent_promotions_of_one_repository(writer, registry, tmp_path, store):
    repo = registry.repo()
    versions = ("1.0.0", "2.0.0", "1.5.0")
    for version in versions:
        put_state(registry, seed(tmp_path, store, repo, version), "testing", f"{version}-testing")
    barrier = threading.Barrier(len(versions))
    results: dict[str, PromoteResult | BaseException] = {}

    def publish(version: str) -> None:
        try:
            barrier.wait(timeout=30)
            results[version] = run(f"{repo}:{version}-testing", "published", writer)
        except BaseException as exc:  # reported by the assertion below
            results[version] = exc

    threads = [threading.Thread(target=publish, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(r, PromoteResult) for r in results.values()), results
    for version in versions:
        assert status_of(registry, f"{repo}:{version}") == "published"
    assert registry.digest(f"{repo}:latest") == registry.digest(f"{repo}:2.0.0")


def test_concurrent_deprecate_and_publish(writer, registry, tmp_path, store):
    # latest is on 2.0.0 while 2.0.0 is deprecated and 1.5.0 published at the same time.
    repo = registry.repo()
    put_state(registry, seed(tmp_path, store, repo, "2.0.0"), "published", "2.0.0", "latest")
    put_state(registry, seed(tmp_path, store, repo, "1.5.0"), "testing", "1.5.0-testing")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def step(ref: str, to: str) -> None:
        try:
            barrier.wait(timeout=30)
            run(ref, to, writer)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=step, args=(f"{repo}:2.0.0", "deprecated")),
        threading.Thread(target=step, args=(f"{repo}:1.5.0-testing", "published")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert status_of(registry, f"{repo}:2.0.0") == "deprecated"
    assert registry.digest(f"{repo}:latest") == registry.digest(f"{repo}:1.5.0")


def test_interrupted_promotion_is_finished_by_running_it_again(writer, registry, tmp_path, store, monkeypatch):
    repo = registry.repo()
    testing = put_state(registry, seed(tmp_path, store, repo, "1.0.0"), "testing", "1.0.0-testing")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("interrupted after the version tag was written")

    monkeypatch.setattr("skillctl.lifecycle.promote._settle_latest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(f"{repo}:1.0.0-testing", "published", writer)
    half = tags(registry, repo)
    assert status_of(registry, f"{repo}:1.0.0") == "published" and "latest" not in half
    monkeypatch.undo()

    result = run(f"{repo}:1.0.0-testing", "published", writer)
    assert result.wrote is True and result.previous_digest == testing
    assert result.tags == {"1.0.0": result.digest, "latest": result.digest}
    assert registry.digest(f"{repo}:latest") == registry.digest(f"{repo}:1.0.0") == result.digest
    assert run(f"{repo}:1.0.0-testing", "published", writer).wrote is False

    # An archive interrupted before the version tag was removed is finished the same way.
    deprecated = run(f"{repo}:1.0.0", "deprecated", writer).digest

    def untag_interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt("interrupted before the tag was removed")

    monkeypatch.setattr(RemoteRepo, "untag", untag_interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(f"{repo}:1.0.0", "archived", writer)
    assert registry.digest(f"{repo}:1.0.0") == deprecated
    monkeypatch.undo()

    result = run(f"{repo}:1.0.0", "archived", writer)
    assert result.removed == ["1.0.0"]
    assert "1.0.0" not in registry.tags(repo)
    assert status_of(registry, f"{repo}@{result.digest}") == "archived"


def test_a_transient_registry_error_is_retried(registry, tmp_path, store, monkeypatch):
    # Distribution answers 500 when a read races a write of the same link file (concurrent promotions).
    need_tool("skopeo")
    from skillctl.backends.skopeo import SkopeoBackend

    repo = registry.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0")
    real = SkopeoBackend.manifest
    failures = {"left": 2, "seen": 0}

    def flaky(self, ref, opts):
        if failures["left"]:
            failures["left"] -= 1
            failures["seen"] += 1
            raise ToolError(f"read manifest of {ref}: received unexpected HTTP status: 500 Internal Server Error")
        return real(self, ref, opts)

    def no_api(ref, opts):
        raise OSError("registry API read disabled for this test")

    # Reads go over the registry API first; make them fall back to the (flaky) skopeo read.
    monkeypatch.setattr("skillctl.registry.client.fetch_manifest", no_api)
    monkeypatch.setattr(SkopeoBackend, "manifest", flaky)
    result = run(draft_ref, "testing", "skopeo")
    assert failures["seen"] == 2
    assert registry.digest(f"{repo}:1.0.0-testing") == result.digest

    def broken(self, ref, opts):
        failures["seen"] += 1
        raise ToolError(f"read manifest of {ref}: something else went wrong")

    failures["seen"] = 0
    monkeypatch.setattr(SkopeoBackend, "manifest", broken)
    with pytest.raises(ToolError, match="something else"):
        run(draft_ref, "testing", "skopeo")
    assert failures["seen"] == 1  # not a transient error: no retry


# -- invalid and stale steps ---------------------------------------------------------------------
def test_invalid_transitions(writer, registry, tmp_path, store):
    repo = registry.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0")
    put_state(registry, draft_ref, "testing", "1.0.0-testing")
    put_state(registry, draft_ref, "published", "1.0.0")
    where = {
        "draft": draft_ref,
        "testing": f"{repo}:1.0.0-testing",
        "published": f"{repo}:1.0.0",
        "deprecated": f"{repo}@{put_state(registry, draft_ref, 'deprecated')}",
        "archived": f"{repo}@{put_state(registry, draft_ref, 'archived')}",
    }
    before = tags(registry, repo)
    checked = 0
    for i, current in enumerate(STATES):
        assert status_of(registry, where[current]) == current
        for target in STATES:
            if STATES.index(target) in (i, i + 1):
                continue
            res = cli_promote(where[current], target, writer)
            assert res.exit_code == 5, (current, target, res.output)
            assert res.stdout == ""
            expected = "nothing follows archived" if current == "archived" else f"the next state is {STATES[i + 1]}"
            assert expected in res.stderr, res.stderr
            checked += 1
    assert checked == 16
    assert tags(registry, repo) == before
    with pytest.raises(LifecycleError, match="the next state is testing"):
        run(draft_ref, "published", writer)


def test_retrying_publish_after_deprecation_changes_nothing(writer, registry, tmp_path, store):
    repo = registry.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0")
    put_state(registry, draft_ref, "testing", "1.0.0-testing")
    deprecated = put_state(registry, draft_ref, "deprecated", "1.0.0")
    stale = run(f"{repo}:1.0.0-testing", "published", writer)
    assert stale.wrote is False and stale.digest == deprecated
    assert any("already deprecated" in w for w in stale.warnings), stale.warnings
    assert registry.digest(f"{repo}:1.0.0") == deprecated
    assert "latest" not in registry.tags(repo)


def test_missing_reference_is_not_found(writer, registry, tmp_path, store):
    repo = registry.repo()
    seed(tmp_path, store, repo, "1.0.0")
    with pytest.raises(NotFoundError):
        run(f"{repo}:9.9.9-draft", "testing", writer)
    res = cli_promote(f"{repo}:9.9.9", "archived", writer)
    assert res.exit_code == 4, res.output


# -- TLS and credentials -------------------------------------------------------------------------
def test_promotion_on_a_tls_registry_with_credentials(writer, tls_registry, tmp_path, store):
    reg = tls_registry
    assert reg.username and reg.password and reg.cert_dir
    opts = RegistryOptions(cert_dir=reg.cert_dir, timeout=TIMEOUT)
    login.login(reg.host, reg.username, reg.password, opts=opts, verify=False)
    repo = reg.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0", opts)
    testing = run(draft_ref, "testing", writer, opts).digest
    published = run(f"{repo}:1.0.0-testing", "published", writer, opts).digest
    assert tags(reg, repo) == {"1.0.0-draft": reg.digest(draft_ref), "1.0.0-testing": testing,
                               "1.0.0": published, "latest": published}  # fmt: skip
    assert_same_content({"draft": reg.manifest_json(draft_ref), "testing": reg.manifest_json(f"{repo}@{testing}"),
                         "published": reg.manifest_json(f"{repo}@{published}")})  # fmt: skip


# -- tool processes --------------------------------------------------------------------------------
def counting_tool_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tool processes the backends start from now on (each ``proc.run`` really runs; its argv recorded)."""
    from skillctl.core import proc

    real = proc.run
    calls: list[str] = []

    def counted(argv, *args, **kwargs):
        calls.append(" ".join(map(str, argv)))
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(proc, "run", counted)
    return calls


def test_a_promotion_starts_one_tool_process_per_registry_write(writer, tls_registry, tmp_path, store, monkeypatch):
    # Reads (the manifest, the tag list, the config, the read-back) go over the registry API, with the
    # registry's credentials and CA; only the writes are tool processes: the new manifest, then latest.
    reg = tls_registry
    opts = RegistryOptions(cert_dir=reg.cert_dir, timeout=TIMEOUT)
    login.login(reg.host, reg.username, reg.password, opts=opts, verify=False)
    repo = reg.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0", opts)
    calls = counting_tool_runs(monkeypatch)
    testing = run(draft_ref, "testing", writer, opts)
    assert len(calls) == 1, calls
    assert reg.digest(f"{repo}:1.0.0-testing") == testing.digest
    calls.clear()
    published = run(f"{repo}:1.0.0-testing", "published", writer, opts)
    assert len(calls) == 2, calls  # 1.0.0, then latest
    assert tags(reg, repo)["latest"] == published.digest


def test_without_the_registry_api_the_tools_read_instead(registry, tmp_path, store, monkeypatch):
    need_tool("skopeo")
    repo = registry.repo()
    draft_ref = seed(tmp_path, store, repo, "1.0.0")

    def no_api(*args, **kwargs):
        raise OSError("registry API read disabled for this test")

    for name in ("fetch_manifest", "fetch_tags", "fetch_blob"):
        monkeypatch.setattr(f"skillctl.registry.client.{name}", no_api)
    calls = counting_tool_runs(monkeypatch)
    result = run(draft_ref, "testing", "skopeo")
    assert registry.digest(f"{repo}:1.0.0-testing") == result.digest
    assert any(" list-tags " in call for call in calls), calls
    assert any(" --config " in call for call in calls), calls
    assert len(calls) > 1


def test_a_promotion_without_policy_or_key_loads_no_signing_code(registry, tmp_path, store):
    # The start-up budget (tests/unit/test_startup_imports.py) for the one command that needs a registry.
    import subprocess
    import sys

    need_tool("skopeo")
    draft_ref = seed(tmp_path, store, registry.repo(), "1.0.0")
    main = "import sys; from skillctl.cli import main; main(sys.argv[1:])"
    argv = [sys.executable, "-X", "importtime", "-c", main, "promote", draft_ref, "--to", "testing"]
    done = subprocess.run(  # not in the repository: python -c would import the source tree's skillctl
        [*argv, "--tls-verify=false"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    problems = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert done.returncode == 0, problems
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "skillctl.lifecycle.promote" in modules
    heavy = ("cryptography", "nacl", "yaml", "jsonschema", "skillctl.trust", "skillctl.card", "skillctl.image")
    assert not [m for m in modules if m.split(".")[0] in heavy or m.startswith(heavy)], sorted(modules)
