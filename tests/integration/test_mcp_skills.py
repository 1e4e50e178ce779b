"""Skills over MCP (SEP-2640) with the SDK's real client against ``skillctl mcp`` (stdio) and real registries:
listings, entries, every file read and checked against the image layer, states, refusals, pagination over 500
skills, and a registry that goes away mid-session."""

from __future__ import annotations

import concurrent.futures
import hashlib
import subprocess
from pathlib import Path

import anyio
import pytest
import yaml
from catalog_helpers import annotations, put_skill, skill_entries
from mcp_helpers import EXTENSION, SKILLCTL, error_code, layer_files, manifest_of, stdio_skills
from oci_helpers import directory, file, symlink
from registry import Registry, running_registry

pytestmark = pytest.mark.integration
NO_TLS = "--tls-verify=false"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _put(reg: Registry, ns: str, name: str, tag: str, version: str, status: str, entries=None) -> str:
    entries = entries if entries is not None else skill_entries(name, version)
    return put_skill(
        reg, f"{ns}/{name}", tag, entries=entries, ann=annotations(namespace=ns, version=version, status=status)
    )


def _layer(reg: Registry, ns: str, name: str, tag: str) -> bytes:
    manifest = reg.manifest_json(f"{reg.host}/{ns}/{name}:{tag}")
    return reg.blob(f"{reg.host}/{ns}/{name}", manifest["layers"][0]["digest"])


def _tamper(reg: Registry, ns: str, name: str, tag: str) -> None:
    """Change a layer's bytes on the registry's disk (what a compromised storage backend would serve)."""
    digest = reg.manifest_json(f"{reg.host}/{ns}/{name}:{tag}")["layers"][0]["digest"].split(":")[1]
    data = reg.root / "data" / "docker/registry/v2/blobs/sha256" / digest[:2] / digest / "data"
    raw = bytearray(data.read_bytes())
    raw[-20] ^= 0xFF
    data.write_bytes(bytes(raw))


@pytest.fixture(scope="module")
def seeded(registry: Registry) -> tuple[Registry, str]:
    ns = registry.repo("x").split("/")[1]
    _put(registry, ns, "alpha", "1.0.0", "1.0.0", "published")
    _put(registry, ns, "alpha", "1.1.0", "1.1.0", "published")
    _put(registry, ns, "alpha", "latest", "1.1.0", "published")
    _put(registry, ns, "alpha", "2.0.0-draft", "2.0.0", "draft")
    beta = [
        *skill_entries("beta", "1.0.0", description="Beta, with files of every kind"),
        directory("references"),
        directory("references/deep"),
        file("references/deep/GUIDE.md", "# Guide\n\nUnicode: \u00e9\u00e8 \u2713\n".encode()),
        file("assets/logo.png", PNG),
        file("assets/with space.txt", b"spaces in names\n"),
        symlink("GUIDE.md", "references/deep/GUIDE.md"),
    ]
    _put(registry, ns, "beta", "1.0.0", "1.0.0", "published", beta)
    _put(registry, ns, "gamma", "0.1.0-draft", "0.1.0", "draft")
    _put(registry, ns, "delta", "1.0.0-draft", "1.0.0", "draft")
    _put(registry, ns, "delta", "1.0.0", "1.0.0", "deprecated")
    _put(registry, ns, "tampered", "1.0.0", "1.0.0", "published")
    _tamper(registry, ns, "tampered", "1.0.0")
    return registry, ns


def _skillctl(reg: Registry, ns: str, store: Path, *extra: str) -> tuple[str, ...]:
    return ("--store", str(store), "mcp", "--registry", f"{reg.host}/{ns}", NO_TLS, *extra)


def test_list_get_and_read_every_file_as_the_image_layer_has_it(seeded, tmp_path: Path) -> None:
    reg, ns = seeded

    async def main() -> None:
        async with stdio_skills(*_skillctl(reg, ns, tmp_path / "store")) as host:
            assert host.extensions == {EXTENSION: {}}
            assert host.client.server_capabilities.resources is not None
            skills, pages = await host.list_all()
            assert all(p["ttlMs"] > 0 and p["cacheScope"] in ("public", "private") for p in pages)
            by_uri = {s["uri"]: s for s in skills}
            # Published only, the highest per skill; the tampered image never listed; drafts and deprecated not.
            assert sorted(by_uri) == [f"skill://{ns}/alpha/SKILL.md", f"skill://{ns}/beta/SKILL.md"]
            alpha = by_uri[f"skill://{ns}/alpha/SKILL.md"]
            assert alpha["_meta"]["io.skillimage/version"] == "1.1.0"
            assert (
                alpha["_meta"]["io.skillimage/image"]
                == f"{reg.host}/{ns}/alpha@{reg.digest(f'{reg.host}/{ns}/alpha:1.1.0')}"
            )
            for tag, entry in (("1.1.0", alpha), ("1.0.0", by_uri[f"skill://{ns}/beta/SKILL.md"])):
                name = entry["frontmatter"]["name"]
                expected = manifest_of(layer_files(_layer(reg, ns, name, tag)))
                listed = {
                    r["uri"].removeprefix(f"skill://{ns}/{name}/"): (r["digest"], r["size"]) for r in entry["resources"]
                }
                listed = {p.replace("%20", " "): v for p, v in listed.items()}
                assert listed == expected  # every file of the layer, each once, digests and sizes from the layer
                for resource in entry["resources"]:
                    data = await host.read(resource["uri"])
                    assert len(data) == resource["size"]
                    assert "sha256:" + hashlib.sha256(data).hexdigest() == resource["digest"]
                skill_md = (await host.read(entry["uri"])).decode()
                assert yaml.safe_load(skill_md.split("---")[1]) == entry["frontmatter"]
                got = await host.get(entry["uri"])
                assert got["skill"] == entry and got["ttlMs"] > 0
            beta = by_uri[f"skill://{ns}/beta/SKILL.md"]
            assert f"skill://{ns}/beta/assets/with%20space.txt" in {r["uri"] for r in beta["resources"]}
            assert await host.read(f"skill://{ns}/beta/GUIDE.md") == await host.read(
                f"skill://{ns}/beta/references/deep/GUIDE.md"
            )
            # Unlisted paths, unknown skills, the tampered one, drafts: invalid params.
            for uri in (
                f"skill://{ns}/beta/references/deep",
                f"skill://{ns}/beta/nope.md",
                f"skill://{ns}/beta/../alpha/SKILL.md",
                f"skill://{ns}/tampered/SKILL.md",
                f"skill://{ns}/gamma/SKILL.md",
                "skill://nobody/nothing/SKILL.md",
                "file:///etc/passwd",
            ):
                assert await error_code(host.read(uri)) == -32602, uri
            assert await error_code(host.get(f"skill://{ns}/tampered/SKILL.md")) == -32602
            assert await error_code(host.get(f"skill://{ns}/beta/assets/logo.png")) == -32602
            assert await error_code(host.page("bm90IG91cnM")) == -32602

    anyio.run(main)


def test_states_widen_deprecated_is_flagged_and_a_deprecated_version_is_never_a_draft(seeded, tmp_path) -> None:
    reg, ns = seeded

    async def listing(*states: str) -> dict[str, dict]:
        async with stdio_skills(*_skillctl(reg, ns, tmp_path / "store", *states)) as host:
            skills, _ = await host.list_all()
            return {s["frontmatter"]["name"]: s for s in skills}

    async def main() -> None:
        drafts = await listing("--state", "draft")
        # delta 1.0.0 has a draft tag left behind, but the version is deprecated: not a draft.
        assert {n: s["_meta"]["io.skillimage/version"] for n, s in drafts.items()} == {
            "alpha": "2.0.0",
            "gamma": "0.1.0",
        }
        wide = await listing("--state", "published,deprecated")
        assert sorted(wide) == ["alpha", "beta", "delta"]
        assert wide["delta"]["_meta"]["io.skillimage/state"] == "deprecated"
        assert wide["delta"]["_meta"]["io.skillimage/deprecated"] is True
        assert "io.skillimage/deprecated" not in wide["alpha"]["_meta"]

    anyio.run(main)


def test_a_registry_going_down_mid_session_leaves_listed_skills_readable(tmp_path: Path) -> None:
    with running_registry(tmp_path / "reg") as reg:
        ns = "team"
        _put(reg, ns, "stays", "1.0.0", "1.0.0", "published")

        async def main() -> None:
            async with stdio_skills(*_skillctl(reg, ns, tmp_path / "store", "--sync-interval", "1s")) as host:
                (entry,), _ = await host.list_all()
                reg.stop()  # nothing was read yet: a host fetches lazily
                await anyio.sleep(2.5)  # a sync or two fail meanwhile
                for resource in entry["resources"]:
                    data = await host.read(resource["uri"])
                    assert "sha256:" + hashlib.sha256(data).hexdigest() == resource["digest"]
                again, _ = await host.list_all()
                assert again == [entry]
                assert (await host.get(entry["uri"]))["skill"] == entry

        anyio.run(main)


def test_pagination_over_500_skills_keeps_one_listing_pinned(registry: Registry, tmp_path: Path) -> None:
    ns = registry.repo("x").split("/")[1]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: _put(registry, ns, f"skill-{i:03d}", "1.0.0", "1.0.0", "published"), range(501)))

    async def main() -> None:
        async with stdio_skills(*_skillctl(registry, ns, tmp_path / "store", "--sync-interval", "1s")) as host:
            first = await host.page()
            assert len(first["skills"]) == 100 and "nextCursor" in first
            # A new version lands mid-listing: the rest of this listing still serves what it started with.
            _put(registry, ns, "skill-000", "1.1.0", "1.1.0", "published")
            await anyio.sleep(2.5)
            pages = [first]
            while "nextCursor" in pages[-1]:
                pages.append(await host.page(pages[-1]["nextCursor"]))
            names = [s["frontmatter"]["name"] for p in pages for s in p["skills"]]
            assert [len(p["skills"]) for p in pages] == [100, 100, 100, 100, 100, 1]
            assert names == sorted(names) and len(set(names)) == 501
            assert pages[0]["skills"][0]["_meta"]["io.skillimage/version"] == "1.0.0"
            # The host reads what it was listed; a new listing serves the new version.
            assert (await host.read(f"skill://{ns}/skill-000/SKILL.md")) == (
                await host.read(f"skill://{ns}/skill-000/SKILL.md")
            )
            fresh = await host.page()
            assert fresh["skills"][0]["_meta"]["io.skillimage/version"] == "1.1.0"
            assert (await host.get(f"skill://{ns}/skill-000/SKILL.md"))["skill"] == fresh["skills"][0]

    anyio.run(main)


def test_installed_skills_are_served_from_the_image_their_receipt_names(seeded, tmp_path: Path) -> None:
    reg, ns = seeded
    store, skills_dir = tmp_path / "store", tmp_path / "agent-skills"
    for name, tag in (("alpha", "1.0.0"), ("beta", "1.0.0")):
        result = subprocess.run(
            [
                str(SKILLCTL),
                "--store",
                str(store),
                "install",
                f"{reg.host}/{ns}/{name}:{tag}",
                "-o",
                str(skills_dir),
                NO_TLS,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    installed_card = (skills_dir / "alpha" / "skill.yaml").read_bytes()
    image_files = layer_files(_layer(reg, ns, "alpha", "1.0.0"))
    assert installed_card != image_files["skill.yaml"]  # install records its provenance there

    async def main() -> None:
        async with stdio_skills("--store", str(store), "mcp", "-o", str(skills_dir)) as host:
            skills, _ = await host.list_all()
            by_name = {s["frontmatter"]["name"]: s for s in skills}
            assert sorted(by_name) == ["alpha", "beta"]
            alpha = by_name["alpha"]
            # The installed version (1.0.0), not the registry's highest (1.1.0): what the receipt names.
            assert alpha["_meta"]["io.skillimage/image"].endswith(reg.digest(f"{reg.host}/{ns}/alpha:1.0.0"))
            listed = {
                r["uri"].removeprefix(f"skill://{ns}/alpha/"): (r["digest"], r["size"]) for r in alpha["resources"]
            }
            assert listed == manifest_of(image_files)
            assert await host.read(f"skill://{ns}/alpha/skill.yaml") == image_files["skill.yaml"]

    anyio.run(main)
    # An image gone from the store is not served from the installed files instead.
    subprocess.run(
        [str(SKILLCTL), "--store", str(store), "rm", "-f", f"{reg.host}/{ns}/beta:1.0.0"], check=True, timeout=60
    )
    subprocess.run([str(SKILLCTL), "--store", str(store), "prune"], check=True, timeout=60, capture_output=True)

    async def after() -> None:
        async with stdio_skills("--store", str(store), "mcp", "-o", str(skills_dir)) as host:
            skills, _ = await host.list_all()
            assert [s["frontmatter"]["name"] for s in skills] == ["alpha"]

    anyio.run(after)


def test_the_local_store_is_the_default_source(tmp_path: Path, hello: Path) -> None:
    store = tmp_path / "store"

    def skillctl(*args: str) -> None:
        subprocess.run([str(SKILLCTL), "--store", str(store), *args], check=True, capture_output=True, timeout=120)

    skillctl("pack", str(hello))

    async def listing() -> list[dict]:
        async with stdio_skills("--store", str(store), "mcp") as host:
            skills, _ = await host.list_all()
            for skill in skills:
                for resource in skill["resources"]:
                    data = await host.read(resource["uri"])
                    assert "sha256:" + hashlib.sha256(data).hexdigest() == resource["digest"]
            return skills

    assert anyio.run(listing) == []  # a draft is not published
    skillctl("promote", "examples/hello-world:1.0.0-draft", "--to", "testing", "--local")
    skillctl("promote", "examples/hello-world:1.0.0-testing", "--to", "published", "--local")
    (entry,) = anyio.run(listing)
    assert entry["uri"] == "skill://examples/hello-world/SKILL.md"
    assert entry["frontmatter"]["name"] == "hello-world"
    assert sorted(r["uri"].rsplit("/", 1)[1] for r in entry["resources"]) == ["SKILL.md", "skill.yaml"]
