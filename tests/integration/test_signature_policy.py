"""containers-policy.json(5) applied by pull, install and mirror on a real registry, with the scopes ops
teams write for podman: reject, insecureAcceptAnything, sigstoreSigned by a key (either signature format) or
by a Fulcio identity with a Rekor key (a private Sigstore made by the test). The policy is a file of the test,
or the test's own ``~/.config/containers/policy.json``; the machine's ``/etc/containers`` is never touched.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import assert_error
from click.testing import CliRunner, Result
from private_sigstore import PrivateSigstore, use_sigstore_attachments
from registry import Registry, unique_skill

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core import oci
from skillctl.registry import transfer
from skillctl.trust.signing import generate_key_pair, sign, simple_signing_payload

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
EMAIL, ISSUER = "release@acme.example", "https://accounts.acme.example"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    return {n: generate_key_pair(tmp_path_factory.mktemp(f"key-{n}"), b"pw") for n in ("a", "b")}


def cli_run(store: Path, *args: object) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def publish(reg: Registry, tmp_path: Path, repo: str, tag: str = "1.0.0") -> tuple[str, str]:
    store = skillctl.Store(tmp_path / f"producer-{tag}")
    image = skillctl.pack(unique_skill(tmp_path / f"src-{repo.rsplit('/', 1)[-1]}-{tag}", "demo"), store=store)
    ref = f"{repo}:{tag}"
    transfer.push(image.ref, ref, store=store, backend="skopeo", opts=OPTS)
    return ref, reg.digest(ref) or ""


def write_policy(path: Path, scopes: dict, default: list | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"default": default or [{"type": "reject"}], "transports": {"docker": scopes}}))
    return path


def untouched(store: Path, out: Path) -> None:
    assert ok(cli_run(store, "list", "-q")).stdout.split() == []
    assert not (out / "demo").exists()


def test_scopes_reject_accept_and_signed_by_a_key(
    registry: Registry, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    signed_repo, open_repo, other_repo = (registry.repo("demo") for _ in range(3))
    policy = write_policy(
        tmp_path / "policy.json",
        {
            signed_repo: [
                {"type": "sigstoreSigned", "keyPath": str(keys["a"][1]), "signedIdentity": {"type": "matchRepository"}}
            ],
            open_repo: [{"type": "insecureAcceptAnything"}],
        },
    )
    ref, digest = publish(registry, tmp_path, signed_repo)
    open_ref, _ = publish(registry, tmp_path, open_repo)
    other_ref, _ = publish(registry, tmp_path, other_repo)
    store, out = tmp_path / "consumer", tmp_path / "skills"

    for command in ("pull", "install"):
        unsigned = cli_run(store, command, ref, "--signature-policy", policy, "-o", out, NO_TLS)
        assert_error(unsigned, 10, f'scope "{signed_repo}"', f"{digest} has none", hint=False)
        untouched(store, out)
        rejected = cli_run(store, command, other_ref, "--signature-policy", policy, "-o", out, NO_TLS)
        assert_error(rejected, 10, "rejected by the default of", str(policy))
        untouched(store, out)

    sign(ref, keys["b"][0], b"pw", opts=OPTS)  # the wrong key
    wrong = cli_run(store, "pull", ref, "--signature-policy", policy, NO_TLS)
    assert_error(wrong, 10, f"requires key {keys['a'][1]}", "does not verify with", hint=False)
    untouched(store, out)

    sign(ref, keys["a"][0], b"pw", signature_format="bundle", opts=OPTS)  # the right key, cosign v3's format
    pulled = json.loads(
        ok(cli_run(store, "pull", ref, "--signature-policy", policy, NO_TLS, "--format", "json")).stdout
    )
    assert pulled["digest"] == digest
    ok(cli_run(tmp_path / "c2", "install", ref, "--signature-policy", policy, "-o", out, NO_TLS))
    assert (out / "demo" / "SKILL.md").is_file()
    ok(cli_run(tmp_path / "c3", "pull", open_ref, "--signature-policy", policy, NO_TLS))


def test_signed_identity_applies_to_sig_payloads(
    registry: Registry, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    repo = registry.repo("demo")
    policy = write_policy(tmp_path / "policy.json", {repo: [{"type": "sigstoreSigned", "keyPath": str(keys["a"][1])}]})
    ref, digest = publish(registry, tmp_path, repo)
    sign(ref, keys["a"][0], b"pw", opts=OPTS)
    # The default signedIdentity (matchRepoDigestOrExact) wants the tag in the payload, which cosign never writes.
    by_tag = cli_run(tmp_path / "s1", "pull", ref, "--signature-policy", policy, NO_TLS)
    assert_error(by_tag, 10, "matchRepoDigestOrExact does not accept", hint=False)
    ok(cli_run(tmp_path / "s2", "pull", f"{repo}@{digest}", "--signature-policy", policy, NO_TLS))


def test_fulcio_and_rekor_from_a_private_sigstore(registry: Registry, tmp_path: Path) -> None:
    made = PrivateSigstore()
    (tmp_path / "ca.pem").write_bytes(made.ca_pem())
    (tmp_path / "rekor.pub").write_bytes(made.log_public_pem())
    repo = registry.repo("demo")

    def fulcio_policy(email: str) -> Path:
        requirement = {
            "type": "sigstoreSigned",
            "fulcio": {"caPath": "ca.pem", "oidcIssuer": ISSUER, "subjectEmail": email},
            "rekorPublicKeyPath": "rekor.pub",
            "signedIdentity": {"type": "matchRepository"},
        }
        return write_policy(tmp_path / f"policy-{email}.json", {repo: [requirement]})

    ref, digest = publish(registry, tmp_path, repo)
    annotations, payload = made.keyless_sig_layer(simple_signing_payload(repo, digest), EMAIL, ISSUER)
    layer = registry.put_blob(repo, payload)
    config = b'{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}'
    sig = json.dumps({
        "schemaVersion": 2, "mediaType": oci.MANIFEST_V1,
        "config": {"mediaType": oci.CONFIG_V1, "digest": registry.put_blob(repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": layer,
                    "size": len(payload), "annotations": annotations}],
    }).encode()  # fmt: skip
    registry.put_manifest(repo, f"sha256-{digest[7:]}.sig", sig)

    ok(cli_run(tmp_path / "s1", "pull", ref, "--signature-policy", fulcio_policy(EMAIL), NO_TLS))
    other = cli_run(tmp_path / "s2", "pull", ref, "--signature-policy", fulcio_policy("x@acme.example"), NO_TLS)
    assert_error(other, 10, f"the certificate is for {EMAIL}, not x@acme.example", hint=False)


def test_the_users_policy_is_read_by_default_also_through_skopeo_with_sigstore_attachments(
    registry: Registry, keys: dict[str, tuple[Path, Path]], isolated_env: Path, tmp_path: Path
) -> None:
    """What podman users have: a sigstoreSigned policy and use-sigstore-attachments. Debian's skopeo refuses
    such images itself ("sigstore disabled"); skillctl applies the policy and pulls."""
    repo = registry.repo("demo")
    ref, digest = publish(registry, tmp_path, repo)
    write_policy(
        isolated_env / ".config/containers/policy.json",
        {registry.host: [{"type": "sigstoreSigned", "keyPath": str(keys["a"][1]),
                          "signedIdentity": {"type": "matchRepository"}}]},
        default=[{"type": "insecureAcceptAnything"}],
    )  # fmt: skip
    use_sigstore_attachments(isolated_env, registry.host)
    store, out = tmp_path / "consumer", tmp_path / "skills"
    for backend in ("skopeo", "crane"):
        refused = cli_run(store, "install", ref, "--backend", backend, "-o", out, NO_TLS)
        assert_error(refused, 10, f'scope "{registry.host}"', f"{digest} has none", hint=False)
        untouched(store, out)
    sign(ref, keys["a"][0], b"pw", opts=OPTS)
    ok(cli_run(store, "install", ref, "--backend", "skopeo", "-o", out, NO_TLS))
    assert (out / "demo" / "SKILL.md").is_file()


def test_mirror_copies_only_what_the_policy_accepts(
    registry: Registry, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    repo = registry.repo("demo")
    good, good_digest = publish(registry, tmp_path, repo, "1.0.0")
    bad, bad_digest = publish(registry, tmp_path, repo, "2.0.0")
    sign(good, keys["a"][0], b"pw", signature_format="both", opts=OPTS)
    sign(bad, keys["b"][0], b"pw", signature_format="both", opts=OPTS)
    policy = write_policy(
        tmp_path / "policy.json",
        {
            repo: [
                {"type": "sigstoreSigned", "keyPath": str(keys["a"][1]), "signedIdentity": {"type": "matchRepository"}}
            ]
        },
        default=[{"type": "insecureAcceptAnything"}],
    )
    dest = f"{registry.host}/mirrored{registry.repo('x').rsplit('/', 2)[1]}"
    result = cli_run(tmp_path / "s", "mirror", repo, dest, "--signature-policy", policy, NO_TLS, "--format", "json")
    items = {i["source"].rsplit(":", 1)[-1]: i for i in json.loads(result.stdout)}
    assert items["1.0.0"]["action"] == "copied"
    assert items["2.0.0"]["action"] == "failed" and "none of 2 signature(s)" in items["2.0.0"]["detail"]
    for tag in (f"sha256-{bad_digest[7:]}", f"sha256-{bad_digest[7:]}.sig"):
        assert items[tag]["action"] == "skipped"
    mirrored = dest + "/" + repo.split("/", 1)[1]
    assert registry.tags(mirrored) == sorted(["1.0.0", f"sha256-{good_digest[7:]}", f"sha256-{good_digest[7:]}.sig"])
    # The mirrored image verifies in both formats there: the referrers index came along unchanged.
    verified = json.loads(
        ok(
            cli_run(tmp_path / "s", "verify", f"{mirrored}:1.0.0", "--key", keys["a"][1], NO_TLS, "--format", "json")
        ).stdout
    )
    assert verified["formats"] == ["bundle", "legacy"]
    assert registry.manifest(f"{mirrored}:sha256-{good_digest[7:]}") == registry.manifest(
        f"{repo}:sha256-{good_digest[7:]}"
    )


def test_sync_applies_the_policy_before_anything_is_installed(
    registry: Registry, keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """A project's locked images pass the same policy as pull and install: an unsigned one under a
    sigstoreSigned scope fails the sync with nothing installed; signed, the same lock installs."""
    from lock_helpers import publish as publish_release
    from lock_helpers import run as project_run
    from lock_helpers import skill_source

    repo = registry.repo("lib")
    producer = skillctl.Store(tmp_path / "producer")
    digest = publish_release(producer, repo, skill_source(tmp_path / "src", "lib", "1.0.0"), "1.0.0")
    project = tmp_path / "project"
    project.mkdir()
    store = tmp_path / "store"
    policy = write_policy(
        tmp_path / "policy.json",
        {
            repo: [
                {"type": "sigstoreSigned", "keyPath": str(keys["a"][1]), "signedIdentity": {"type": "matchRepository"}}
            ]
        },
        default=[{"type": "insecureAcceptAnything"}],
    )
    args = ("--signature-policy", policy, NO_TLS, "--project", project)
    refused = project_run(store, "add", repo, "-o", "skills", *args)
    assert refused.exit_code == 10, refused.stderr
    assert "policy" in refused.stderr and repo in refused.stderr
    assert not (project / "skills").exists()

    sign(f"{repo}@{digest}", keys["a"][0], b"pw", opts=OPTS)
    ok(project_run(store, "add", repo, "-o", "skills", *args))
    assert (project / "skills" / "lib" / "SKILL.md").is_file()
    # Another key's policy refuses the same locked image on the next sync of a fresh checkout.
    (project / "skills" / "lib").rename(tmp_path / "moved")
    other = write_policy(
        tmp_path / "other.json",
        {
            repo: [
                {"type": "sigstoreSigned", "keyPath": str(keys["b"][1]), "signedIdentity": {"type": "matchRepository"}}
            ]
        },
    )
    again = project_run(store, "sync", "--signature-policy", other, NO_TLS, "--project", project)
    assert again.exit_code == 10, again.stderr
    assert not (project / "skills" / "lib").exists()
