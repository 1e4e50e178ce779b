"""Signing and verification on a real registry, through the CLI, with cosign as the other party.

Every image is a fresh skill (``unique_skill``: its layer no other test has), so a test that damages
the registry's storage on disk damages only its own image. What the registry holds is read over HTTP
(``tests/registry.py``), never through the code under test. Keys: two skillctl pairs (A, B) and one made
by ``cosign generate-key-pair`` (C). The consumer side of pull and install always uses a store of its
own, so "nothing written" means: no tag in that store, no skill directory, no receipt.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import assert_error
from click.testing import CliRunner, Result
from registry import Registry, need_tool, unique_skill

import skillctl
from skillctl.backends.base import RegistryOptions
from skillctl.cli.app import cli
from skillctl.core import oci
from skillctl.registry import transfer
from skillctl.trust.signing import SIGNATURE_ANNOTATION, SIMPLE_SIGNING, generate_key_pair, sign, simple_signing_payload

pytestmark = pytest.mark.integration

OPTS = RegistryOptions(tls_verify=False, timeout=120)
NO_TLS = "--tls-verify=false"
BLOBS = Path("data/docker/registry/v2/blobs/sha256")


@dataclass(frozen=True)
class Key:
    private: Path
    public: Path
    password: str

    @property
    def env(self) -> dict[str, str]:
        return {"COSIGN_PASSWORD": self.password}


@dataclass(frozen=True)
class Keys:
    a: Key  # skillctl keygen
    b: Key  # skillctl keygen, a different pair
    c: Key  # cosign generate-key-pair


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    cosign = need_tool("cosign")
    made = []
    for name in ("a", "b"):
        private, public = generate_key_pair(tmp_path_factory.mktemp(f"key-{name}"), f"pw-{name}".encode())
        made.append(Key(private, public, f"pw-{name}"))
    where = tmp_path_factory.mktemp("key-c")
    subprocess.run(
        [cosign, "generate-key-pair"],
        cwd=where,
        env={"PATH": os.environ["PATH"], "HOME": str(where), "COSIGN_PASSWORD": "pw-c"},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Keys(*made, Key(where / "cosign.key", where / "cosign.pub", "pw-c"))


# -- helpers -------------------------------------------------------------------------------------
def cli_run(store: Path, *args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--store", str(store), *map(str, args)], env=env)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def cosign(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """cosign, offline: no transparency log, plain-HTTP registry allowed."""
    return subprocess.run(
        [need_tool("cosign"), *map(str, args)],
        env={"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cosign_verify(ref: str, key: Key) -> subprocess.CompletedProcess[str]:
    return cosign("verify", "--key", key.public, "--insecure-ignore-tlog=true", "--allow-insecure-registry", ref)


def cosign_sign(ref_by_digest: str, key: Key) -> None:
    done = cosign(
        "sign", "--key", key.private, "--tlog-upload=false", "--allow-insecure-registry", "-y", ref_by_digest,
        env=key.env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def signed_digests(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The digests named in the payloads ``cosign verify`` printed."""
    return [p["critical"]["image"]["docker-manifest-digest"] for p in json.loads(done.stdout)]


def publish(reg: Registry, tmp_path: Path, *, tag: str = "1.0.0-draft", repo: str | None = None) -> tuple[str, str]:
    """A fresh skill pushed (not signed) as ``repo:tag``; returns (reference, registry digest)."""
    store = skillctl.Store(tmp_path / "producer-store")
    image = skillctl.pack(unique_skill(tmp_path / f"src-{tag}", "demo"), store=store)
    ref = f"{repo or reg.repo('demo')}:{tag}"
    transfer.push(image.ref, ref, store=store, backend="skopeo", opts=OPTS)
    digest = reg.digest(ref)
    assert digest == image.digest
    return ref, digest


def repo_of(ref: str) -> str:
    return ref.rsplit("@", 1)[0].rsplit(":", 1)[0] if "@" in ref else ref.rsplit(":", 1)[0]


def sig_ref(ref: str, digest: str) -> str:
    return f"{repo_of(ref)}:{digest.replace(':', '-')}.sig"


def blob_file(reg: Registry, digest: str) -> Path:
    hex_digest = digest.split(":", 1)[1]
    path = reg.root / BLOBS / hex_digest[:2] / hex_digest / "data"
    assert path.is_file(), path
    return path


def consumer_is_untouched(store: Path, out: Path) -> None:
    """No local tag, no skill directory, no receipt."""
    listed = ok(cli_run(store, "list", "-q")).stdout.split()
    assert listed == [], listed
    assert not (out / "demo").exists()
    assert not out.exists() or list(out.rglob("*.json")) == []


def refused(result: Result, *fragments: str) -> None:
    assert_error(result, 10, *fragments, hint=False)


# -- sign and verify -----------------------------------------------------------------------------
def test_sign_then_verify_through_the_cli(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    store = tmp_path / "store"

    unsigned = cli_run(store, "verify", ref, "--key", keys.a.public, NO_TLS)
    refused(unsigned, "no signature found", digest)

    pw = tmp_path / "pw.txt"
    pw.write_text(keys.a.password + "\n")
    signed = json.loads(
        ok(
            cli_run(store, "sign", ref, "--key", keys.a.private, "--passphrase-file", pw, NO_TLS, "--format", "json")
        ).stdout
    )
    assert signed == {
        "ref": ref, "digest": digest, "signature_ref": sig_ref(ref, digest), "signatures": 1, "bundle_ref": None,
        "formats": ["legacy"],
    }  # fmt: skip
    assert sorted(registry.tags(repo_of(ref))) == sorted([ref.rsplit(":", 1)[1], f"sha256-{digest[7:]}.sig"])

    # The signature image, read straight from the registry: cosign's layout, cosign's payload.
    sig = registry.manifest_json(sig_ref(ref, digest))
    assert sig["mediaType"] == oci.MANIFEST_V1
    (layer,) = sig["layers"]
    assert layer["mediaType"] == SIMPLE_SIGNING
    payload = registry.blob(repo_of(ref), layer["digest"])
    assert payload == simple_signing_payload(repo_of(ref), digest)
    assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == digest
    assert base64.b64decode(layer["annotations"][SIGNATURE_ANNOTATION])

    verified = ok(cli_run(store, "verify", ref, "--key", keys.a.public, NO_TLS))
    assert f"Verified {ref} ({digest}): 1 of 1 signature(s)" in verified.stdout
    assert ok(cli_run(store, "verify", ref, "--key", keys.a.public, NO_TLS, "-q")).stdout == digest + "\n"
    by_digest = f"{repo_of(ref)}@{digest}"
    ok(cli_run(store, "verify", by_digest, "--key", keys.a.public, NO_TLS))

    wrong = cli_run(store, "verify", ref, "--key", keys.b.public, NO_TLS)
    refused(wrong, "none of 1 signature(s)", digest, str(keys.b.public))
    refused(cli_run(store, "verify", ref, "--key", keys.c.public, NO_TLS), "none of 1 signature(s)")


def test_sign_with_a_wrong_or_missing_passphrase_writes_nothing(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    ref, _ = publish(registry, tmp_path)
    store = tmp_path / "store"
    wrong = cli_run(store, "sign", ref, "--key", keys.a.private, NO_TLS, env={"COSIGN_PASSWORD": "pw-b"})
    assert_error(wrong, 2, "wrong passphrase", hint=False)
    missing = cli_run(store, "sign", ref, "--key", keys.a.private, NO_TLS)
    assert_error(missing, 2, "no passphrase", "COSIGN_PASSWORD")
    assert registry.tags(repo_of(ref)) == [ref.rsplit(":", 1)[1]]


def test_signing_an_unknown_image_fails_without_a_signature(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    repo = registry.repo("demo")
    result = cli_run(tmp_path / "store", "sign", f"{repo}:9.9.9", "--key", keys.a.private, NO_TLS, env=keys.a.env)
    assert result.exit_code == 4, (result.exit_code, result.stderr)
    assert registry.tags(repo) == []


def test_push_with_sign_key(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ok(cli_run(store, "pack", unique_skill(tmp_path / "src", "demo")))
    ref = f"{registry.repo('demo')}:1.0.0-draft"
    pushed = json.loads(
        ok(
            cli_run(
                store, "push", "test/demo:1.0.0-draft", ref, "--sign-key", keys.a.private, NO_TLS, "--format", "json",
                env=keys.a.env,
            )
        ).stdout
    )  # fmt: skip
    digest = registry.digest(ref)
    assert pushed["digest"] == digest
    assert pushed["signature"] == sig_ref(ref, digest)
    ok(cli_run(store, "verify", ref, "--key", keys.a.public, NO_TLS))
    refused(cli_run(store, "verify", ref, "--key", keys.b.public, NO_TLS), "none of 1")
    done = cosign_verify(ref, keys.a)
    assert done.returncode == 0, done.stderr
    assert signed_digests(done) == [digest]


def test_push_with_sign_key_and_a_wrong_passphrase_pushes_nothing(
    registry: Registry, keys: Keys, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    ok(cli_run(store, "pack", unique_skill(tmp_path / "src", "demo")))
    repo = registry.repo("demo")
    result = cli_run(
        store, "push", "test/demo:1.0.0-draft", f"{repo}:1.0.0-draft", "--sign-key", keys.a.private, NO_TLS,
        env={"COSIGN_PASSWORD": "not-the-password"},
    )  # fmt: skip
    assert_error(result, 2, "wrong passphrase", hint=False)
    assert registry.tags(repo) == []  # checked before the push, not after it


def test_promote_with_sign_key_and_a_wrong_passphrase_promotes_nothing(
    registry: Registry, keys: Keys, tmp_path: Path
) -> None:
    draft, _ = publish(registry, tmp_path)
    result = cli_run(
        tmp_path / "store", "promote", draft, "--to", "testing", "--sign-key", keys.a.private, NO_TLS,
        env={"COSIGN_PASSWORD": "not-the-password"},
    )  # fmt: skip
    assert_error(result, 2, "wrong passphrase", hint=False)
    assert registry.tags(repo_of(draft)) == ["1.0.0-draft"]  # checked before the promotion, not after it


def test_promote_with_sign_key_signs_the_new_digest(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    draft, draft_digest = publish(registry, tmp_path)
    repo = repo_of(draft)
    store = tmp_path / "store"
    sign(draft, keys.a.private, keys.a.password.encode(), opts=OPTS)

    promoted = json.loads(
        ok(
            cli_run(
                store, "promote", draft, "--to", "testing", "--sign-key", keys.a.private, NO_TLS, "--format", "json",
                env=keys.a.env,
            )
        ).stdout
    )  # fmt: skip
    testing_digest = registry.digest(f"{repo}:1.0.0-testing")
    assert promoted["digest"] == testing_digest != draft_digest
    assert promoted["signature"] == sig_ref(draft, testing_digest)
    ok(cli_run(store, "verify", f"{repo}:1.0.0-testing", "--key", keys.a.public, NO_TLS))
    ok(cli_run(store, "verify", draft, "--key", keys.a.public, NO_TLS))  # the draft keeps its own signature

    # The draft's signature names the draft's digest: put under the testing digest's tag it verifies nothing.
    repo2 = registry.repo("demo")
    other, _ = publish(registry, tmp_path / "other", repo=repo2)
    sign(other, keys.a.private, keys.a.password.encode(), opts=OPTS)
    ok(cli_run(store, "promote", other, "--to", "testing", NO_TLS))  # promoted without a key
    other_testing = registry.digest(f"{repo2}:1.0.0-testing")
    refused(cli_run(store, "verify", f"{repo2}:1.0.0-testing", "--key", keys.a.public, NO_TLS), "no signature")
    old_sig = registry.manifest(sig_ref(other, registry.digest(other)))
    assert old_sig is not None
    registry.put_manifest(repo2, f"sha256-{other_testing[7:]}.sig", old_sig)
    refused(cli_run(store, "verify", f"{repo2}:1.0.0-testing", "--key", keys.a.public, NO_TLS), "none of 1")
    assert cosign_verify(f"{repo2}:1.0.0-testing", keys.a).returncode != 0

    # Published: 1.0.0 and latest are one new digest, signed, and cosign agrees.
    ok(
        cli_run(
            store, "promote", f"{repo}:1.0.0-testing", "--to", "published", "--sign-key", keys.a.private, NO_TLS,
            env=keys.a.env,
        )
    )  # fmt: skip
    published = registry.digest(f"{repo}:1.0.0")
    assert published == registry.digest(f"{repo}:latest") not in (draft_digest, testing_digest)
    for tag in ("1.0.0", "latest"):
        ok(cli_run(store, "verify", f"{repo}:{tag}", "--key", keys.a.public, NO_TLS))
    done = cosign_verify(f"{repo}:1.0.0", keys.a)
    assert done.returncode == 0, done.stderr
    assert signed_digests(done) == [published]


def test_promote_sign_key_refused_with_local(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ok(cli_run(store, "pack", unique_skill(tmp_path / "src", "demo")))
    result = cli_run(
        store, "promote", "test/demo:1.0.0-draft", "--to", "testing", "--local", "--sign-key", keys.a.private,
        env=keys.a.env,
    )  # fmt: skip
    assert_error(result, 2, "--sign-key", hint=False)
    assert "test/demo:1.0.0-draft" in ok(cli_run(store, "list", "-q")).stdout.split()


# -- pull and install with --verify-key ----------------------------------------------------------
@pytest.mark.parametrize("command", ["pull", "install"])
def test_verify_key_refuses_unsigned_and_wrongly_signed_images(
    command: str, registry: Registry, keys: Keys, tmp_path: Path
) -> None:
    ref, digest = publish(registry, tmp_path)
    consumer, out = tmp_path / "consumer", tmp_path / "skills"

    def attempt(key: Key) -> Result:
        return cli_run(consumer, command, ref, "--verify-key", key.public, "-o", out, NO_TLS)

    refused(attempt(keys.a), "no signature found", digest)
    consumer_is_untouched(consumer, out)

    sign(ref, keys.b.private, keys.b.password.encode(), opts=OPTS)
    refused(attempt(keys.a), "none of 1 signature(s)")
    consumer_is_untouched(consumer, out)

    # Signed by A as well: A's key now lets it in, and the image is the one that was signed.
    sign(ref, keys.a.private, keys.a.password.encode(), opts=OPTS)
    ok(attempt(keys.a))
    assert ok(cli_run(consumer, "list", "-q")).stdout.split() == [ref]
    assert (out / "demo" / "skill.yaml").is_file()
    assert json.loads(ok(cli_run(consumer, "inspect", ref, "--format", "json")).stdout)["digest"] == digest


def test_verify_key_with_a_cosign_key(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    cosign_sign(f"{repo_of(ref)}@{digest}", keys.c)
    out = tmp_path / "skills"
    refused(cli_run(tmp_path / "c1", "install", ref, "--verify-key", keys.a.public, "-o", out, NO_TLS), "none of 1")
    consumer_is_untouched(tmp_path / "c1", out)
    ok(cli_run(tmp_path / "c2", "install", ref, "--verify-key", keys.c.public, "-o", out, NO_TLS))
    assert (out / "demo" / "SKILL.md").is_file()


# -- interop with cosign -------------------------------------------------------------------------
def test_cosign_verifies_skillctl_signatures(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    assert cosign_verify(ref, keys.a).returncode != 0  # unsigned
    sign(ref, keys.a.private, keys.a.password.encode(), opts=OPTS)
    done = cosign_verify(ref, keys.a)
    assert done.returncode == 0, done.stderr
    assert signed_digests(done) == [digest]
    by_digest = cosign_verify(f"{repo_of(ref)}@{digest}", keys.a)
    assert by_digest.returncode == 0, by_digest.stderr
    assert cosign_verify(ref, keys.b).returncode != 0
    assert cosign_verify(ref, keys.c).returncode != 0


def test_skillctl_verifies_cosign_signatures(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    cosign_sign(f"{repo_of(ref)}@{digest}", keys.c)
    store = tmp_path / "store"
    verified = ok(cli_run(store, "verify", ref, "--key", keys.c.public, NO_TLS, "--format", "json"))
    assert json.loads(verified.stdout) == {
        "ref": ref, "digest": digest, "verified": 1, "signatures": 1, "signers": [str(keys.c.public)],
        "formats": ["legacy"], "attestations": [],
    }  # fmt: skip
    refused(cli_run(store, "verify", ref, "--key", keys.a.public, NO_TLS), "none of 1")
    # cosign wrote the payload skillctl writes: the same bytes under the same digest.
    (layer,) = registry.manifest_json(sig_ref(ref, digest))["layers"]
    assert layer["digest"] == oci.sha256_digest(simple_signing_payload(repo_of(ref), digest))


def test_signatures_by_several_keys_and_tools_all_verify(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    by_digest = f"{repo_of(ref)}@{digest}"
    store = tmp_path / "store"
    ok(cli_run(store, "sign", ref, "--key", keys.a.private, NO_TLS, env=keys.a.env))
    cosign_sign(by_digest, keys.c)  # cosign appends to skillctl's .sig image
    signed = ok(cli_run(store, "sign", ref, "--key", keys.b.private, NO_TLS, "-q", env=keys.b.env))
    assert signed.stdout == digest + "\n"

    layers = registry.manifest_json(sig_ref(ref, digest))["layers"]
    assert len(layers) == 3
    assert len({layer["annotations"][SIGNATURE_ANNOTATION] for layer in layers}) == 3
    for key in (keys.a, keys.b, keys.c):
        result = json.loads(ok(cli_run(store, "verify", ref, "--key", key.public, NO_TLS, "--format", "json")).stdout)
        assert result == {
            "ref": ref, "digest": digest, "verified": 1, "signatures": 3, "signers": [str(key.public)],
            "formats": ["legacy"], "attestations": [],
        }  # fmt: skip
        done = cosign_verify(ref, key)
        assert done.returncode == 0, (key, done.stderr)
        assert signed_digests(done) == [digest]


# -- tampering -----------------------------------------------------------------------------------
def test_changed_layer_blob_is_refused_by_pull_and_install(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    sign(ref, keys.a.private, keys.a.password.encode(), opts=OPTS)
    (layer,) = registry.manifest_json(ref)["layers"]
    data = blob_file(registry, layer["digest"])
    damaged = bytearray(data.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01  # same size, one bit different
    data.write_bytes(bytes(damaged))
    assert registry.digest(ref) == digest  # the manifest (and so its signature) is untouched

    consumer, out = tmp_path / "consumer", tmp_path / "skills"
    for command in ("pull", "install"):
        result = cli_run(consumer, command, ref, "--verify-key", keys.a.public, "-o", out, NO_TLS)
        assert_error(result, 10, layer["digest"])
        consumer_is_untouched(consumer, out)
    plain = cli_run(consumer, "pull", ref, NO_TLS)  # without a key the digest check still holds
    assert_error(plain, 10, "did not match")
    consumer_is_untouched(consumer, out)


def test_changed_manifest_is_refused_by_verify_pull_and_install(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    sign(ref, keys.a.private, keys.a.password.encode(), opts=OPTS)
    store = tmp_path / "store"
    ok(cli_run(store, "verify", ref, "--key", keys.a.public, NO_TLS))

    # Rewrite the manifest's bytes where the registry keeps them; it serves them for the tag and the digest.
    data = blob_file(registry, digest)
    manifest = json.loads(data.read_bytes())
    manifest["annotations"]["org.opencontainers.image.description"] = "tampered"
    data.write_bytes(json.dumps(manifest).encode())
    served = registry.digest(ref)
    assert served != digest

    refused(cli_run(store, "verify", ref, "--key", keys.a.public, NO_TLS), "no signature found", served)
    by_digest = f"{repo_of(ref)}@{digest}"
    refused(cli_run(store, "verify", by_digest, "--key", keys.a.public, NO_TLS), "does not match", digest)
    assert cosign_verify(ref, keys.a).returncode != 0

    consumer, out = tmp_path / "consumer", tmp_path / "skills"
    for command in ("pull", "install"):
        for target in (ref, by_digest):
            refused(cli_run(consumer, command, target, "--verify-key", keys.a.public, "-o", out, NO_TLS))
            consumer_is_untouched(consumer, out)


def test_a_different_manifest_under_the_same_tag_is_refused(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    ref, digest = publish(registry, tmp_path)
    sign(ref, keys.a.private, keys.a.password.encode(), opts=OPTS)
    _, replaced = publish(registry, tmp_path / "impostor", repo=repo_of(ref))  # same repository and tag
    assert registry.digest(ref) == replaced != digest

    store = tmp_path / "store"
    refused(cli_run(store, "verify", ref, "--key", keys.a.public, NO_TLS), "no signature found", replaced)
    consumer, out = tmp_path / "consumer", tmp_path / "skills"
    refused(cli_run(consumer, "install", ref, "--verify-key", keys.a.public, "-o", out, NO_TLS))
    consumer_is_untouched(consumer, out)
    ok(cli_run(store, "verify", f"{repo_of(ref)}@{digest}", "--key", keys.a.public, NO_TLS))  # the original still is


def test_a_forged_signature_is_refused(registry: Registry, keys: Keys, tmp_path: Path) -> None:
    """The .sig image rewritten: the payload kept, the signature swapped for one over other bytes."""
    from skillctl.trust.signing import load_private_key

    ref, digest = publish(registry, tmp_path)
    sign(ref, keys.a.private, keys.a.password.encode(), opts=OPTS)
    sig = registry.manifest_json(sig_ref(ref, digest))
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    other = load_private_key(keys.a.private, keys.a.password.encode()).sign(b"other", ec.ECDSA(hashes.SHA256()))
    sig["layers"][0]["annotations"][SIGNATURE_ANNOTATION] = base64.b64encode(other).decode()
    registry.put_manifest(repo_of(ref), sig_ref(ref, digest).rsplit(":", 1)[1], json.dumps(sig).encode())

    refused(cli_run(tmp_path / "store", "verify", ref, "--key", keys.a.public, NO_TLS), "none of 1")
    assert cosign_verify(ref, keys.a).returncode != 0


# -- the passphrase in a whole signing run -------------------------------------------------------
def test_passphrase_never_reaches_a_tool_or_the_logs(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from skillctl.core import proc

    secret = "pp-" + os.urandom(6).hex()
    private, public = generate_key_pair(tmp_path / "k", secret.encode())
    calls: list[tuple[list[str], object, dict[str, str] | None]] = []
    real_run = proc.subprocess.run

    def spy(argv, *args, **kwargs):
        calls.append((list(argv), kwargs.get("input"), kwargs.get("env")))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(proc.subprocess, "run", spy)
    caplog.set_level(logging.DEBUG)
    store = tmp_path / "store"
    ok(cli_run(store, "pack", unique_skill(tmp_path / "src", "demo")))
    repo = registry.repo("demo")
    outputs = [
        ok(
            cli_run(
                store, "-vv", "push", "test/demo:1.0.0-draft", f"{repo}:1.0.0-draft", "--sign-key", private, NO_TLS,
                env={"COSIGN_PASSWORD": secret},
            )
        )
    ]  # fmt: skip
    pw = tmp_path / "pw"
    pw.write_text(secret)
    outputs.append(
        ok(
            cli_run(
                store, "-vv", "promote", f"{repo}:1.0.0-draft", "--to", "testing", "--sign-key", private,
                "--passphrase-file", pw, NO_TLS,
            )
        )
    )  # fmt: skip
    ok(cli_run(store, "verify", f"{repo}:1.0.0-testing", "--key", public, NO_TLS))

    assert len(calls) >= 6, calls  # push, read back, signature look-up and push, promotion, ...
    for argv, stdin, env in calls:
        assert not any(secret in arg for arg in argv), argv
        assert stdin is None or secret.encode() not in stdin
        if env is not None:
            assert secret not in {v for k, v in env.items() if k != "COSIGN_PASSWORD"}
    assert secret not in caplog.text
    for result in outputs:
        assert secret not in result.stdout + result.stderr
