"""Keys and payloads in cosign's formats, and passphrases that never reach argv, logs or output.

cosign itself (v2, installed by ``make tools``) is the reference: its key pairs
must load here, ours must load there, and ``cosign generate`` prints the exact
simple-signing payload it would sign, which ours must equal byte for byte. No
registry is needed: the one command that would reach a registry is pointed at
a port where nothing listens.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import assert_error
from click.testing import CliRunner
from conftest import require_tool
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from registry import free_port

from skillctl.cli.app import cli
from skillctl.core import oci
from skillctl.core.errors import ConflictError, NotFoundError, UsageError
from skillctl.core.refs import parse_reference
from skillctl.trust.signing import (
    SignatureError,
    generate_key_pair,
    load_private_key,
    load_public_key,
    passphrase,
    signature_tag,
    simple_signing_payload,
)

PASSPHRASE = b"correct horse battery staple"
DIGEST = oci.sha256_digest(b"a manifest")


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem_label(path: Path) -> tuple[str, str]:
    lines = path.read_text().strip().splitlines()
    return lines[0], lines[-1]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One skillctl key pair for the tests that only read it (scrypt makes each new key cost ~0.1 s)."""
    return generate_key_pair(tmp_path_factory.mktemp("keys"), PASSPHRASE)


def cosign_env(home: Path, password: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(home), "COSIGN_PASSWORD": password}


def verify_blob(cosign: str, pub: Path, sig: Path, blob: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = [cosign, "verify-blob", "--key", str(pub), "--signature", str(sig), "--insecure-ignore-tlog=true", str(blob)]
    return subprocess.run(argv, env=env, capture_output=True, check=False, timeout=60)


# -- key generation ------------------------------------------------------------------------------
def test_generate_key_pair_writes_cosign_named_pem_files_with_private_modes(tmp_path: Path) -> None:
    key_path, pub_path = generate_key_pair(tmp_path / "new", PASSPHRASE)

    assert (key_path.name, pub_path.name) == ("cosign.key", "cosign.pub")
    assert pem_label(key_path) == (
        "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----",
        "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----",
    )
    assert pem_label(pub_path) == ("-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub_path.stat().st_mode) == 0o644
    # The private key is encrypted: the PEM body is cosign's JSON envelope, scrypt + nacl/secretbox.
    body = json.loads(base64.b64decode("".join(key_path.read_text().strip().splitlines()[1:-1])))
    assert body["kdf"]["name"] == "scrypt"
    assert body["cipher"]["name"] == "nacl/secretbox"
    assert b"PRIVATE KEY" not in base64.b64decode(body["ciphertext"])

    private = load_private_key(key_path, PASSPHRASE)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.curve.name == "secp256r1"
    assert public_pem(private) == pub_path.read_bytes()
    public = load_public_key(pub_path)
    data = b"signed bytes"
    public.verify(private.sign(data, ec.ECDSA(hashes.SHA256())), data, ec.ECDSA(hashes.SHA256()))


def test_every_key_pair_is_new(tmp_path: Path) -> None:
    _, first = generate_key_pair(tmp_path / "a", PASSPHRASE)
    _, second = generate_key_pair(tmp_path / "b", PASSPHRASE)
    assert first.read_bytes() != second.read_bytes()


def test_generate_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    key_path, pub_path = generate_key_pair(tmp_path, PASSPHRASE)
    before = key_path.read_bytes(), pub_path.read_bytes()
    with pytest.raises(ConflictError, match="would overwrite"):
        generate_key_pair(tmp_path, b"other")
    assert (key_path.read_bytes(), pub_path.read_bytes()) == before

    generate_key_pair(tmp_path, b"other", force=True)
    assert pub_path.read_bytes() != before[1]
    load_private_key(key_path, b"other")


def test_wrong_passphrase_is_a_clear_usage_error(pair: tuple[Path, Path]) -> None:
    key_path, _ = pair
    with pytest.raises(UsageError, match="wrong passphrase") as caught:
        load_private_key(key_path, b"not the passphrase")
    assert str(key_path) in str(caught.value)
    assert caught.value.exit_code == 2


def test_empty_passphrase_is_allowed_as_in_cosign(tmp_path: Path) -> None:
    key_path, _ = generate_key_pair(tmp_path, b"")
    load_private_key(key_path, b"")
    with pytest.raises(UsageError, match="wrong passphrase"):
        load_private_key(key_path, b"x")


def test_other_files_are_refused_as_private_keys(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    _, pub_path = pair
    with pytest.raises(UsageError, match="not a cosign private key"):
        load_private_key(pub_path, PASSPHRASE)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(UsageError, match="not a PEM file"):
        load_private_key(text, PASSPHRASE)
    with pytest.raises(UsageError, match="not a PEM public key"):
        load_public_key(text)
    with pytest.raises(NotFoundError):
        load_private_key(tmp_path / "missing.key", PASSPHRASE)
    with pytest.raises(NotFoundError):
        load_public_key(tmp_path / "missing.pub")


def test_older_cosign_private_key_blocks_load(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    key_path, pub_path = pair
    legacy = tmp_path / "legacy.key"
    legacy.write_text(key_path.read_text().replace("SIGSTORE PRIVATE KEY", "COSIGN PRIVATE KEY"))
    assert public_pem(load_private_key(legacy, PASSPHRASE)) == pub_path.read_bytes()


# -- interop with cosign's keys ------------------------------------------------------------------
def test_keys_from_cosign_generate_key_pair_load(tmp_path: Path) -> None:
    cosign = require_tool("cosign")
    subprocess.run(
        [cosign, "generate-key-pair"], cwd=tmp_path, env=cosign_env(tmp_path, "cosign-pw"), check=True, timeout=60
    )
    private = load_private_key(tmp_path / "cosign.key", b"cosign-pw")
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert public_pem(private).strip() == (tmp_path / "cosign.pub").read_bytes().strip()
    with pytest.raises(UsageError, match="wrong passphrase"):
        load_private_key(tmp_path / "cosign.key", b"skillctl-pw")

    # A signature made with cosign's key verifies with the public key as skillctl loads it.
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"some bytes to sign\n")
    sig = subprocess.run(
        [cosign, "sign-blob", "--key", "cosign.key", "--tlog-upload=false", "-y", "blob.txt"],
        cwd=tmp_path,
        env=cosign_env(tmp_path, "cosign-pw"),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    load_public_key(tmp_path / "cosign.pub").verify(base64.b64decode(sig), blob.read_bytes(), ec.ECDSA(hashes.SHA256()))


def test_cosign_accepts_skillctl_keys(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cosign = require_tool("cosign")
    key_path, pub_path = pair
    env = cosign_env(tmp_path, PASSPHRASE.decode())
    shown = subprocess.run(
        [cosign, "public-key", "--key", str(key_path)], env=env, capture_output=True, check=True, timeout=60
    ).stdout
    assert shown.strip() == pub_path.read_bytes().strip()
    wrong = subprocess.run(
        [cosign, "public-key", "--key", str(key_path)],
        env=cosign_env(tmp_path, "wrong"),
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert wrong.returncode != 0

    # cosign signs with skillctl's private key; verify-blob checks it against skillctl's public key.
    blob = tmp_path / "blob.txt"
    blob.write_bytes(b"bytes\n")
    sig = tmp_path / "blob.sig"
    sig.write_bytes(
        subprocess.run(
            [cosign, "sign-blob", "--key", str(key_path), "--tlog-upload=false", "-y", str(blob)],
            env=env,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    )
    verified = verify_blob(cosign, pub_path, sig, blob, env)
    assert verified.returncode == 0, verified.stderr

    # And the other way: skillctl's private key signs, cosign verify-blob accepts it.
    mine = load_private_key(key_path, PASSPHRASE).sign(blob.read_bytes(), ec.ECDSA(hashes.SHA256()))
    sig.write_bytes(base64.b64encode(mine))
    verified = verify_blob(cosign, pub_path, sig, blob, env)
    assert verified.returncode == 0, verified.stderr


# -- the payload ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "repository",
    [
        "quay.io/myorg/hello-world",
        "localhost:5000/a/b/c",
        "127.0.0.1:5000/org/x",
        "registry.example.com/ns/deep/path/skill",
        "docker.io/library/alpine",
        "docker.io/alpine",
        "index.docker.io/myorg/skill",
    ],
)
def test_payload_is_byte_for_byte_what_cosign_signs(tmp_path: Path, repository: str) -> None:
    cosign = require_tool("cosign")
    # `cosign generate` prints the payload it would sign; with a digest it needs no registry.
    expected = subprocess.run(
        [cosign, "generate", f"{repository}@{DIGEST}"],
        env=cosign_env(tmp_path, ""),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    parsed = parse_reference(f"{repository}@{DIGEST}")
    assert simple_signing_payload(parsed.repository, DIGEST) == expected


def test_payload_names_the_digest_and_nothing_else() -> None:
    payload = json.loads(simple_signing_payload("quay.io/org/x", DIGEST))
    assert payload == {
        "critical": {
            "identity": {"docker-reference": "quay.io/org/x"},
            "image": {"docker-manifest-digest": DIGEST},
            "type": "cosign container image signature",
        },
        "optional": None,
    }


def test_signature_tag_is_cosigns() -> None:
    hex_digest = DIGEST.split(":", 1)[1]
    assert signature_tag(DIGEST) == f"sha256-{hex_digest}.sig"


def test_signature_error_exits_10() -> None:
    assert SignatureError("x").exit_code == 10


# -- where the passphrase comes from -------------------------------------------------------------
def test_passphrase_from_file_wins_over_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "pw"
    file.write_bytes(b"from-file\n")
    assert passphrase(file, env={"COSIGN_PASSWORD": "from-env"}) == b"from-file"
    assert passphrase(None, env={"COSIGN_PASSWORD": "from-env"}) == b"from-env"
    assert passphrase(None, env={"COSIGN_PASSWORD": ""}) == b""
    assert passphrase(None, env={}) is None


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, list(args), env=env)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), env=env)
    finally:
        os.chdir(old)


def test_keygen_writes_into_the_current_directory_with_cosign_password(tmp_path: Path) -> None:
    result = run_cli("keygen", env={"COSIGN_PASSWORD": "env-pw"}, cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cosign.key", "cosign.pub"]
    load_private_key(tmp_path / "cosign.key", b"env-pw")
    assert "env-pw" not in result.output + result.stderr

    again = run_cli("keygen", env={"COSIGN_PASSWORD": "env-pw"}, cwd=tmp_path)
    assert_error(again, 9, "would overwrite")
    forced = run_cli("keygen", "--force", env={"COSIGN_PASSWORD": "new-pw"}, cwd=tmp_path)
    assert forced.exit_code == 0, forced.stderr
    load_private_key(tmp_path / "cosign.key", b"new-pw")


def test_keygen_passphrase_file_strips_one_trailing_newline(tmp_path: Path) -> None:
    pw = tmp_path / "pw.txt"
    pw.write_text("file-pw\n")
    result = run_cli("keygen", "--output-dir", str(tmp_path / "k"), "--passphrase-file", str(pw))
    assert result.exit_code == 0, result.stderr
    load_private_key(tmp_path / "k" / "cosign.key", b"file-pw")


def test_without_passphrase_or_terminal_keygen_says_how_to_give_one(tmp_path: Path) -> None:
    result = run_cli("keygen", "--output-dir", str(tmp_path / "k"))
    assert_error(result, 2, "no passphrase", "COSIGN_PASSWORD", "--passphrase-file")
    assert not (tmp_path / "k").exists()


def test_keygen_prompts_on_a_terminal_without_echo(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "skillctl"
    assert script.is_file(), script
    env = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"}
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [str(script), "keygen", "--output-dir", str(tmp_path)],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        start_new_session=True,
    )
    os.close(child)
    seen = b""

    def read_until(text: bytes, deadline: float) -> None:
        nonlocal seen
        while text not in seen:
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([main], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(main, 4096)
                except OSError:
                    break

    try:
        deadline = time.monotonic() + 30
        read_until(b"Key passphrase", deadline)
        os.write(main, b"typed-secret\n")
        read_until(b"Repeat", deadline)
        os.write(main, b"typed-secret\n")
        read_until(b"cosign.pub", deadline)
        assert proc.wait(timeout=30) == 0, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    assert b"typed-secret" not in seen  # hidden input: never echoed
    load_private_key(tmp_path / "cosign.key", b"typed-secret")


# -- the passphrase never leaks ------------------------------------------------------------------
def test_passphrase_is_never_on_argv_or_in_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skillctl_log: pytest.LogCaptureFixture
) -> None:
    """sign with the key from the environment, then from a file; every tool call is recorded."""
    from skillctl.core import proc

    caplog = skillctl_log

    require_tool("skopeo")
    secret = "s3cret-passphrase-" + os.urandom(4).hex()
    key_path, _ = generate_key_pair(tmp_path / "k", secret.encode())
    pw_file = tmp_path / "pw"
    pw_file.write_text(secret + "\n")
    calls: list[tuple[list[str], object]] = []
    real_run = proc.subprocess.run

    def spy(argv, *args, **kwargs):
        calls.append((list(argv), kwargs.get("input")))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(proc.subprocess, "run", spy)
    down = f"127.0.0.1:{free_port()}/org/skill:1.0.0"  # nothing listens: the manifest read fails after the key
    outputs = []
    for extra, env in (([], {"COSIGN_PASSWORD": secret}), (["--passphrase-file", str(pw_file)], None)):
        result = run_cli(
            "-vv", "sign", down, "--key", str(key_path), "--tls-verify=false", "--timeout", "10", *extra, env=env
        )
        assert result.exit_code == 7, (result.exit_code, result.stderr)  # the registry is down: a network error
        outputs.append(result.output + result.stderr)

    assert calls, "sign ran no tool: the spy saw nothing"
    for argv, stdin in calls:
        assert not any(secret in arg for arg in argv), argv
        assert stdin is None or secret.encode() not in stdin
    assert "running: " in caplog.text, "the -vv log was not captured"
    assert secret not in caplog.text
    assert all(secret not in out for out in outputs)


def test_wrong_passphrase_fails_before_any_tool_runs(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from skillctl.core import proc

    key_path, _ = pair
    calls: list[list[str]] = []
    monkeypatch.setattr(proc.subprocess, "run", lambda argv, *a, **k: calls.append(list(argv)))
    result = run_cli(
        "sign", "127.0.0.1:1/org/skill:1.0.0", "--key", str(key_path), env={"COSIGN_PASSWORD": "not-it-4711"}
    )
    assert_error(result, 2, "wrong passphrase", str(key_path), hint=False)
    assert "not-it-4711" not in result.output + result.stderr
    assert calls == []
