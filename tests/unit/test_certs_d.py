"""Where a registry's CA and client keys are found: --cert-dir, else certs.d as podman and skopeo look."""

from __future__ import annotations

from pathlib import Path

from skillctl.backends.base import RegistryOptions
from skillctl.core.certs import SYSTEM_ROOTS, cert_dir_for, certs_d_roots


def test_the_user_directory_comes_first_then_the_system_ones(isolated_env: Path, tmp_path: Path) -> None:
    system = isolated_env / "system-certs.d"
    user = isolated_env / ".config" / "containers" / "certs.d"
    assert certs_d_roots() == [user, system]
    assert cert_dir_for("registry.example:5000") is None
    (system / "registry.example:5000").mkdir(parents=True)
    assert cert_dir_for("registry.example:5000") == system / "registry.example:5000"
    (user / "registry.example:5000").mkdir(parents=True)
    assert cert_dir_for("registry.example:5000") == user / "registry.example:5000"
    # HOST:PORT exactly as in the reference: another port or the bare host is another registry.
    assert cert_dir_for("registry.example:5001") is None
    assert cert_dir_for("registry.example") is None
    assert cert_dir_for(None) is None and cert_dir_for("../x") is None


def test_without_an_override_the_system_roots_are_the_containers_ones(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert certs_d_roots(env) == [tmp_path / ".config/containers/certs.d", *map(Path, SYSTEM_ROOTS)]
    assert [str(p) for p in certs_d_roots(env)[1:]] == ["/etc/containers/certs.d", "/etc/docker/certs.d"]
    several = {"HOME": str(tmp_path), "SKILLCTL_SYSTEM_CERTS_D": f"{tmp_path}/a::{tmp_path}/b"}
    assert certs_d_roots(several) == [tmp_path / ".config/containers/certs.d", tmp_path / "a", tmp_path / "b"]


def test_an_explicit_cert_dir_wins_for_every_registry(isolated_env: Path, tmp_path: Path) -> None:
    (isolated_env / ".config/containers/certs.d/r.example").mkdir(parents=True)
    assert RegistryOptions().cert_dir_for("r.example") == isolated_env / ".config/containers/certs.d/r.example"
    assert RegistryOptions(cert_dir=tmp_path).cert_dir_for("r.example") == tmp_path
    assert RegistryOptions(cert_dir=tmp_path).cert_dir_for("other.example") == tmp_path
