"""A hostile registry (``tests/hostile_registry.py``) against every command that talks to registries.

Credentials: a password goes only to the registry itself or its HTTPS token service, never in clear, never
after a redirect to another host, and a refusal is final (no backend tries again). Bounds: ``--timeout`` is
one deadline for the whole command; a catalog cannot page forever; a download cannot write more than the
manifest declares. Hostile metadata (control characters in tags and annotations, configs and token answers
that are not JSON) gives one ``Error:`` line with a documented exit code, or a warning and the rest, never a
crash; values from the registry are escaped before they reach the terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import assert_error, ok_json
from click.testing import CliRunner, Result
from hostile_registry import (
    OCI_INDEX,
    HostileRegistry,
    Reply,
    build_image,
    drip,
    endless,
    hostile_registry,
    json_reply,
    write_authfile,
)
from registry import make_ca, make_server_cert, need_tool

from skillctl.cli.app import cli

pytestmark = pytest.mark.integration

USER, PASSWORD = "robot", "s3cret-pw"
NO_TLS = "--tls-verify=false"


def skillctl(store: Path, *args: object, input: str | None = None) -> Result:
    argv = ["--store", str(store), *(str(a) for a in args)]
    return CliRunner().invoke(cli, argv, input=input, catch_exceptions=False, prog_name="skillctl")


def skillctl_process(store: Path, *args: object, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    """The installed console script in its own process (for what must end by itself); (result, seconds)."""
    exe = shutil.which("skillctl", path=str(Path(sys.executable).parent)) or "skillctl"
    start = time.monotonic()
    done = subprocess.run(
        [exe, "--store", str(store), *(str(a) for a in args)],
        capture_output=True, text=True, timeout=timeout, env=os.environ.copy(), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done, time.monotonic() - start


@dataclass(frozen=True)
class Certs:
    trusted: Path  # a --cert-dir holding the CA that signed ``server``
    server: tuple[Path, Path]
    rogue: tuple[Path, Path]  # a certificate from a CA nobody trusts


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    need_tool("openssl")
    root = tmp_path_factory.mktemp("hostile-certs")
    ca_crt, ca_key = make_ca(root / "ca")
    server = make_server_cert(root / "server", ca_crt, ca_key)
    trusted = root / "trusted"
    trusted.mkdir()
    shutil.copy(ca_crt, trusted / "ca.crt")
    rogue_ca, rogue_key = make_ca(root / "rogue-ca", name="rogue CA")
    return Certs(trusted, server, make_server_cert(root / "rogue", rogue_ca, rogue_key))


@pytest.fixture
def other() -> HostileRegistry:
    """A second server on another port: where a hostile registry tries to send the password."""
    with hostile_registry() as server:
        yield server


@pytest.fixture
def authfile(tmp_path: Path) -> Path:
    return tmp_path / "auth.json"


def no_password_leaves(*servers: HostileRegistry, allowed: HostileRegistry | None = None) -> None:
    for server in servers:
        for seen in server.credentials_seen():
            assert server is allowed and seen.tls, f"password sent to {server.host}{seen.path} (tls={seen.tls})"


# -- 1: crane's plain-HTTP fallback ------------------------------------------------------------------


def test_crane_is_refused_where_an_untrusted_tls_port_also_speaks_plain_http(
    certs: Certs, authfile: Path, store_path: Path
) -> None:
    """TLS with an unknown CA's certificate and plain HTTP on one loopback port: crane would use HTTP."""
    need_tool("crane")
    with hostile_registry(tls="both", cert=certs.rogue, basic=(USER, PASSWORD)) as reg:
        reg.put_image("ns/skill", "1.0.0", build_image())
        write_authfile(authfile, reg.host, USER, PASSWORD)
        for args in (["pull", reg.ref("ns/skill")], ["list", f"{reg.host}/ns/skill"]):
            result = skillctl(store_path, *args, "--backend", "crane", "--authfile", authfile, "--timeout", "60")
            assert_error(result, 7, "TLS")
        assert [s for s in reg.seen if not s.tls] == [], "a request went over plain HTTP"
        no_password_leaves(reg)


def test_crane_still_works_with_a_trusted_certificate(certs: Certs, authfile: Path, store_path: Path) -> None:
    need_tool("crane")
    with hostile_registry(tls="both", cert=certs.server, basic=(USER, PASSWORD)) as reg:
        digest = reg.put_image("ns/skill", "1.0.0", build_image())
        write_authfile(authfile, reg.host, USER, PASSWORD)
        result = skillctl(
            store_path, "pull", reg.ref("ns/skill"), "--backend", "crane", "--authfile", authfile,
            "--cert-dir", certs.trusted, "--format", "json",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["digest"] == digest
        assert [s for s in reg.seen if not s.tls] == []


# -- 2: login's credentials ---------------------------------------------------------------------------


def _login(store: Path, host: str, *flags: object) -> Result:
    return skillctl(store, "login", host, "-u", USER, "--password-stdin", *flags, input=PASSWORD + "\n")


def test_login_does_not_follow_a_redirect_to_plain_http(
    certs: Certs, other: HostileRegistry, authfile: Path, store_path: Path
) -> None:
    with hostile_registry(tls="on", cert=certs.server, basic=(USER, PASSWORD)) as reg:
        reg.route("GET", "/v2/", lambda m, s: Reply(307, {"Location": f"http://{other.host}/v2/"}))
        result = _login(store_path, reg.host, "--cert-dir", certs.trusted, "--authfile", authfile)
        assert_error(result, 7)
        no_password_leaves(reg, other, allowed=reg)
    assert other.seen == []
    assert not authfile.exists()


def test_login_does_not_carry_the_password_to_another_host(
    other: HostileRegistry, authfile: Path, store_path: Path
) -> None:
    """A plain-HTTP lab registry (--tls-verify=false) redirecting the credential check elsewhere."""
    with hostile_registry(basic=(USER, PASSWORD)) as reg:
        reg.route(
            "GET",
            "/v2/",
            lambda m, s: Reply(307, {"Location": f"http://{other.host}/v2/"}) if s.authorization else None,
        )
        result = _login(store_path, reg.host, NO_TLS, "--authfile", authfile)
        assert_error(result, 7, "redirected")
    assert other.credentials_seen() == []
    assert not authfile.exists()


def test_login_refuses_a_plain_http_token_service(
    certs: Certs, other: HostileRegistry, authfile: Path, store_path: Path
) -> None:
    with hostile_registry(tls="on", cert=certs.server, bearer_realm=f"http://{other.host}/token") as reg:
        result = _login(store_path, reg.host, "--cert-dir", certs.trusted, "--authfile", authfile)
        assert_error(result, 7, "not HTTPS")
        no_password_leaves(reg, other)
    assert other.seen == []
    assert not authfile.exists()


def test_login_checks_the_password_against_the_registry(certs: Certs, authfile: Path, store_path: Path) -> None:
    with hostile_registry(tls="on", cert=certs.server, basic=(USER, PASSWORD)) as reg:
        result = _login(store_path, reg.host, "--cert-dir", certs.trusted, "--authfile", authfile)
        assert result.exit_code == 0, result.stderr
        assert "Login Succeeded" in result.stdout
        bad = skillctl(store_path, "login", reg.host, "-u", USER, "--password-stdin", "--cert-dir", certs.trusted,
                       "--authfile", authfile, input="wrong\n")  # fmt: skip
        assert_error(bad, 6, "invalid username or password")


# -- 3: a security refusal is final -------------------------------------------------------------------


READERS = {
    "inspect": lambda ref, repo: ["inspect", "--remote", ref],
    "list": lambda ref, repo: ["list", repo],
    "pull": lambda ref, repo: ["pull", ref],
    "kube": lambda ref, repo: ["kube", ref, "--kind", "patch"],
    "promote": lambda ref, repo: ["promote", ref, "--to", "deprecated"],
    "mirror": lambda ref, repo: ["mirror", repo, "127.0.0.1:1/mirror"],
    "install": lambda ref, repo: ["install", ref, "-o", "skills"],
}


@pytest.mark.parametrize("command", sorted(READERS))
@pytest.mark.parametrize("backend", ["skopeo", "crane"])
def test_a_plain_http_token_service_is_refused_by_every_reader(
    command: str, backend: str, certs: Certs, other: HostileRegistry, authfile: Path, store_path: Path
) -> None:
    need_tool(backend)
    with hostile_registry(tls="on", cert=certs.server, bearer_realm=f"http://{other.host}/token") as reg:
        reg.put_image("ns/skill", "1.0.0", build_image())
        write_authfile(authfile, reg.host, USER, PASSWORD)
        args = READERS[command](reg.ref("ns/skill"), f"{reg.host}/ns/skill")
        result = skillctl(store_path, *args, "--backend", backend, "--authfile", authfile, "--cert-dir", certs.trusted)
        assert_error(result, 7, "not HTTPS")
    assert other.seen == [], [(s.method, s.path) for s in other.seen]


# -- 5: --timeout is one deadline for the command --------------------------------------------------------


def _keypair(tmp_path: Path) -> Path:
    """A cosign public key (verify reads it before asking the registry anything)."""
    from skillctl.trust.signing import generate_key_pair

    return generate_key_pair(tmp_path / "keys", b"pw")[1]


DRIPPED = {
    "inspect": lambda r, repo, tmp: ["inspect", "--remote", r],
    "list": lambda r, repo, tmp: ["list", repo],
    "kube": lambda r, repo, tmp: ["kube", r, "--kind", "patch"],
    "promote": lambda r, repo, tmp: ["promote", r, "--to", "deprecated"],
    "verify": lambda r, repo, tmp: ["verify", r, "--key", _keypair(tmp)],
    "pull": lambda r, repo, tmp: ["pull", r],
    "mirror": lambda r, repo, tmp: ["mirror", repo, "127.0.0.1:1/mirror"],
}


@pytest.mark.parametrize("command", sorted(DRIPPED))
def test_a_dripping_registry_cannot_outlast_the_timeout(command: str, store_path: Path, tmp_path: Path) -> None:
    """Every manifest arrives one byte every half second: each receive is quick, the request never ends."""
    with hostile_registry() as reg:
        image = build_image()
        reg.put_image("ns/skill", "1.0.0", image)
        reg.route("GET", r"/v2/ns/skill/manifests/.*", lambda m, s: drip(image.manifest, every=0.5))
        args = DRIPPED[command](reg.ref("ns/skill"), f"{reg.host}/ns/skill", tmp_path)
        done, seconds = skillctl_process(store_path, *args, NO_TLS, "--timeout", "3", timeout=60)
    assert done.returncode == 7, (done.returncode, done.stderr)
    assert "--timeout" in done.stderr or "did not finish" in done.stderr, done.stderr
    assert seconds < 3 + 10, seconds


def test_upgrade_and_upgradable_share_one_deadline(store_path: Path, tmp_path: Path) -> None:
    with hostile_registry() as reg:
        image = build_image()
        reg.put_image("ns/hostile", "1.0.0", image)
        reg.route("GET", r"/v2/ns/hostile/manifests/.*", lambda m, s: drip(image.manifest, every=0.5))
        skills = _installed(tmp_path / "skills", f"{reg.host}/ns/hostile:0.9.0")
        for args in (["upgrade", "--all", "-o", skills], ["list", "--installed", "--upgradable", "-o", skills]):
            done, seconds = skillctl_process(store_path, *args, NO_TLS, "--timeout", "3", timeout=60)
            assert done.returncode in (1, 7), (done.returncode, done.stderr)
            assert "--timeout" in done.stderr, done.stderr
            assert seconds < 3 + 10, seconds


def _installed(root: Path, source: str, name: str = "hostile") -> Path:
    """A skill directory with a receipt naming ``source``, as install writes them."""
    (root / name).mkdir(parents=True)
    (root / name / "SKILL.md").write_text(f"---\nname: {name}\ndescription: x\n---\n")
    receipts = root / ".skillimage" / "receipts"
    receipts.mkdir(parents=True)
    receipt = {"schemaVersion": 1, "name": name, "version": "0.9.0", "source": source, "digest": "", "state": ""}
    (receipts / f"{name}.json").write_text(json.dumps(receipt))
    return root


def test_a_registry_that_never_answers_is_bounded_by_the_timeout_once(store_path: Path) -> None:
    """Not twice (once for the registry API, once more for the backend that takes over)."""
    with hostile_registry() as reg:
        reg.route("GET", r"/v2/.*", lambda m, s: (reg.stopping.wait(120), None)[1])
        done, seconds = skillctl_process(store_path, "inspect", "--remote", reg.ref("ns/skill"), NO_TLS,
                                         "--timeout", "5", timeout=60)  # fmt: skip
    assert done.returncode == 7, (done.returncode, done.stderr)
    assert seconds < 5 * 1.6, seconds


def test_many_tags_do_not_outlast_the_timeout(store_path: Path) -> None:
    with hostile_registry() as reg:
        image = build_image()
        reg.put_image("ns/skill", "1.0.0", image)
        reg.tag_lists["ns/skill"] = [f"1.0.{i}" for i in range(100_000)]
        reg.route(
            "GET", r"/v2/ns/skill/manifests/.*", lambda m, s: (time.sleep(0.05), Reply(200, {}, image.manifest))[1]
        )
        done, seconds = skillctl_process(store_path, "list", f"{reg.host}/ns/skill", NO_TLS, "--timeout", "4",
                                         timeout=120)  # fmt: skip
    assert done.returncode == 7, (done.returncode, done.stderr[-500:])
    assert seconds < 4 + 10, seconds


# -- 6: catalogs that never end ----------------------------------------------------------------------------


@pytest.mark.parametrize("page", [[], ["ns/a"]])
def test_a_catalog_linking_to_itself_is_read_once(page: list[str], store_path: Path) -> None:
    with hostile_registry() as reg:
        link = '</v2/_catalog?n=1000&last=a>; rel="next"'
        reg.route("GET", "/v2/_catalog", lambda m, s: json_reply({"repositories": page}, Link=link))
        done, _ = skillctl_process(store_path, "mirror", f"{reg.host}/ns/*", "127.0.0.1:1/m", NO_TLS,
                                   "--timeout", "20", timeout=60)  # fmt: skip
        catalog = reg.requests("/v2/_catalog")
    assert done.returncode == 4, (done.returncode, done.stderr)
    assert len(catalog) <= 2, len(catalog)
    assert done.stderr.count("Error:") == 1, done.stderr


def test_a_catalog_may_not_link_to_another_host(other: HostileRegistry, store_path: Path) -> None:
    with hostile_registry() as reg:
        link = f'<http://{other.host}/v2/_catalog?n=1000>; rel="next"'
        reg.route("GET", "/v2/_catalog", lambda m, s: json_reply({"repositories": ["ns/a"]}, Link=link))
        result = skillctl(store_path, "mirror", f"{reg.host}/ns/*", "127.0.0.1:1/m", NO_TLS, "--timeout", "20")
    assert_error(result, 7, "another host")
    assert other.seen == []


# -- 7: a download writes no more than the manifest declares -----------------------------------------------


@pytest.mark.parametrize("backend", ["skopeo", "crane"])
def test_an_endless_layer_is_cut_off_at_its_declared_size(backend: str, store_path: Path) -> None:
    need_tool(backend)
    with hostile_registry() as reg:
        image = build_image(layer_size=233)  # the manifest declares 233 bytes for the layer
        reg.put_image("ns/skill", "1.0.0", image)
        layer = json.loads(image.manifest)["layers"][0]["digest"]
        cap = 512 * 1024 * 1024  # the server stops there, so a failing run cannot fill the disk
        reg.route("GET", f"/v2/ns/skill/blobs/{layer}", lambda m, s: endless(limit=cap))
        result = skillctl(store_path, "pull", reg.ref("ns/skill"), "--backend", backend, NO_TLS, "--timeout", "120")
        sent = reg.sent.get(f"/v2/ns/skill/blobs/{layer}", 0)
    assert_error(result, 10)
    assert sent < 64 * 1024 * 1024, f"{sent} bytes went out for a 233-byte layer"
    assert not any((store_path / ".skillctl" / "tmp").iterdir())


# -- 8 and 9: hostile metadata -----------------------------------------------------------------------------


def _hostile_tags(reg: HostileRegistry, repo: str = "ns/hostile") -> None:
    for tag, version in (("1.0.0", "1.0.0"), ("1.1.0", "1.1.0")):
        reg.put_image(repo, tag, build_image(annotations={"org.opencontainers.image.version": version}))
    reg.tag_lists[repo] += ["evil\x01tag", "1.2.0\n", "x" * 300, "../../etc"]


@pytest.mark.parametrize("backend", ["skopeo", "crane"])
def test_unusable_tags_are_skipped_with_a_warning(backend: str, store_path: Path) -> None:
    need_tool(backend)
    with hostile_registry() as reg:
        _hostile_tags(reg)
        result = skillctl(
            store_path, "list", f"{reg.host}/ns/hostile", "--backend", backend, NO_TLS, "--format", "json"
        )
    assert result.exit_code == 0, result.stderr
    assert sorted(r["tag"] for r in json.loads(result.stdout)) == ["1.0.0", "1.1.0"]
    assert "skipping the tag" in result.stderr
    assert "\x01" not in result.stderr


def test_unusable_tags_do_not_stop_upgrades_or_mirrors(store_path: Path, tmp_path: Path, registry) -> None:
    with hostile_registry() as reg:
        _hostile_tags(reg)
        skills = _installed(tmp_path / "skills", f"{reg.host}/ns/hostile:0.9.0")
        result = skillctl(store_path, "list", "--installed", "--upgradable", "-o", skills, NO_TLS, "--format", "json")
        assert [s["latest"] for s in json.loads(result.stdout)] == ["1.1.0"], result.stderr
        result = skillctl(store_path, "upgrade", "--all", "-o", skills, NO_TLS)
        assert result.exit_code == 0, result.stderr
        assert "Upgraded hostile 0.9.0 -> 1.1.0" in result.stdout
        result = skillctl(store_path, "mirror", f"{reg.host}/ns/hostile", f"{registry.host}/m", NO_TLS)
        assert result.exit_code == 0, result.stderr
    # Only the usable tags arrive, and the mirror's own lifecycle rule adds latest (the highest published).
    assert registry.tags(f"{registry.host}/m/ns/hostile") == ["1.0.0", "1.1.0", "latest"]


@pytest.mark.parametrize("config", [b"not json", b"[1, 2]", b'"a string"'])
def test_a_config_that_is_not_an_object_is_an_integrity_error(config: bytes, store_path: Path) -> None:
    with hostile_registry() as reg:
        reg.put_image("ns/skill", "1.0.0", build_image(config=config))
        result = skillctl(store_path, "inspect", "--remote", reg.ref("ns/skill"), NO_TLS)
    assert_error(result, 10, "config")


@pytest.mark.parametrize("answer", [json_reply([1, 2]), Reply(200, {}, b"<html>no</html>"), json_reply({"token": 5})])
def test_a_token_service_that_sends_no_token(answer: Reply, store_path: Path) -> None:
    with hostile_registry() as reg:
        reg.bearer_realm = f"http://{reg.host}/token"
        reg.put_image("ns/skill", "1.0.0", build_image())
        reg.route("GET", "/token", lambda m, s: answer)
        for args in (["inspect", "--remote", reg.ref("ns/skill")], ["mirror", f"{reg.host}/ns/*", "127.0.0.1:1/m"]):
            result = skillctl(store_path, *args, NO_TLS)
            assert result.exit_code in (6, 7), (result.exit_code, result.stderr)
            assert result.stderr.count("Error:") == 1, result.stderr


FORGED = {
    "org.opencontainers.image.version": "1.0.0\nStatus:       published (verified)",
    "org.opencontainers.image.title": "\x1b]0;owned\x07title",
    "org.opencontainers.image.description": "\x1b[2Jcleared \u202eesrever",
    "io.skillimage.status": "published\r\x1b[1A",
}


def _clean(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\u202e" not in text, repr(text)
    assert not any(line.startswith("Status:       published (verified)") for line in text.splitlines()), text


def test_values_from_registries_bundles_and_receipts_are_escaped(store_path: Path, tmp_path: Path) -> None:
    with hostile_registry() as reg:
        reg.put_image("ns/hostile", "1.0.0", build_image(annotations=FORGED))
        ref = reg.ref("ns/hostile")
        inspect = skillctl(store_path, "inspect", "--remote", ref, NO_TLS)
        assert inspect.exit_code == 0, inspect.stderr
        _clean(inspect.stdout)
        assert "1.0.0\\nStatus:" in inspect.stdout
        remote = skillctl(store_path, "list", f"{reg.host}/ns/hostile", NO_TLS)
        assert remote.exit_code == 0, remote.stderr
        _clean(remote.stdout)
        assert len(remote.stdout.splitlines()) == 2  # the header and one row
        assert skillctl(store_path, "install", ref, "-o", tmp_path / "skills", NO_TLS).exit_code == 0
    for args in (["list"], ["inspect", ref], ["list", "--installed", "-o", tmp_path / "skills"]):
        result = skillctl(store_path, *args)
        assert result.exit_code == 0, result.stderr
        _clean(result.stdout + result.stderr)
    assert len(skillctl(store_path, "list").stdout.splitlines()) == 2


# -- 17: an image index means the same thing everywhere ----------------------------------------------------


def _index(reg: HostileRegistry, repo: str, *platforms: tuple[str, str]) -> str:
    """An index over one skill image per platform, plus an attestation entry; returns the linux/amd64 digest."""
    entries, amd64 = [], ""
    for os_, arch in platforms:
        image = build_image(annotations={"org.opencontainers.image.description": f"{os_}/{arch}"})
        digest = reg.put_image(repo, None, image)
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                        "size": len(image.manifest), "platform": {"os": os_, "architecture": arch}})  # fmt: skip
        amd64 = digest if (os_, arch) == ("linux", "amd64") else amd64
    attestation = build_image()
    entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": reg.put_image(repo, None, attestation), "size": len(attestation.manifest),
                    "platform": {"os": "unknown", "architecture": "unknown"}})  # fmt: skip
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    reg.put_manifest(repo, "1.0.0", index, OCI_INDEX)
    return amd64


@pytest.mark.parametrize("backend", ["skopeo", "crane"])
def test_an_index_resolves_to_its_linux_amd64_image_everywhere(backend: str, store_path: Path) -> None:
    need_tool(backend)
    with hostile_registry() as reg:
        amd64 = _index(reg, "ns/skill", ("linux", "arm64"), ("linux", "amd64"))
        ref, flags = reg.ref("ns/skill"), ["--backend", backend, NO_TLS, "--format", "json"]
        assert ok_json(skillctl(store_path, "pull", ref, *flags))["digest"] == amd64
        assert ok_json(skillctl(store_path, "inspect", "--remote", ref, *flags))["digest"] == amd64
        rows = ok_json(skillctl(store_path, "list", f"{reg.host}/ns/skill", *flags))
        assert [(r["tag"], r["digest"]) for r in rows] == [("1.0.0", amd64)]
        kube = ok_json(skillctl(store_path, "kube", ref, "--kind", "patch", *flags))
        volume = kube["spec"]["template"]["spec"]["volumes"][0]
        assert volume["image"]["reference"] == f"{reg.host}/ns/skill@{amd64}"


def test_an_index_without_linux_amd64_is_not_found_everywhere(store_path: Path) -> None:
    with hostile_registry() as reg:
        _index(reg, "ns/skill", ("linux", "arm64"), ("windows", "amd64"))
        ref = reg.ref("ns/skill")
        for args in (["pull", ref], ["inspect", "--remote", ref], ["kube", ref, "--kind", "patch"],
                     ["promote", ref, "--to", "deprecated"], ["install", ref, "-o", "skills"]):  # fmt: skip
            result = skillctl(store_path, *args, NO_TLS)
            assert_error(result, 4, "linux/arm64", "windows/amd64")


def test_crane_digest_mismatch_is_an_integrity_error(tmp_path: Path) -> None:
    """crane's own words for a manifest that is not the digest asked for, classified as skopeo's are."""
    from skillctl.core.errors import IntegrityError
    from skillctl.core.proc import classify

    crane = need_tool("crane")
    with hostile_registry() as reg:
        image, other_image = build_image(), build_image(annotations={"x": "y"})
        reg.put_image("ns/skill", "1.0.0", image)
        reg.manifests[("ns/skill", image.digest)] = ("application/vnd.oci.image.manifest.v1+json", other_image.manifest)
        done = subprocess.run([crane, "manifest", "--insecure", f"{reg.host}/ns/skill@{image.digest}"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0
    assert classify(done.stderr) is IntegrityError, done.stderr
