"""The parts of ``skillctl serve`` that need no server: SKILL.md rendering, auth files, sources, the Kubernetes
manifests (checked against the Kubernetes API schemas), durations."""

from __future__ import annotations

import base64
import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from conftest import require_tool

from skillctl.catalog.sources import RegistrySource, parse_registry, with_repositories
from skillctl.core.errors import UsageError
from skillctl.serve.auth import Authenticator, load_htpasswd, load_tokens
from skillctl.serve.deploy import DeploySpec, manifests, to_yaml
from skillctl.serve.markdown import render, split_frontmatter
from skillctl.serve.settings import ServeSettings, is_loopback, parse_duration

HOSTILE = """\
# Title <script>window.__pwned = 1</script>

<img src=x onerror="window.__pwned = 2">
<a href="javascript:window.__pwned=3">raw</a>

[js](javascript:window.__pwned=4) [JS](JaVaScRiPt:alert(1)) [tab](java\tscript:alert(1)) [data](data:text/html,<b>x</b>)
[vb](vbscript:msgbox) [proto](//evil.example/x) <javascript:alert(5)> [entity](&#106;avascript:alert(6))
[ok](https://example.com/docs) [mail](mailto:a@example.com) [rel](references/guide.md) [frag](#usage)
![remote](https://evil.example/track.png) ![local](assets/diagram.png) ![svg](assets/x.svg)
"""


def test_hostile_markdown_renders_inert() -> None:
    html = render(HOSTILE, file_url=lambda p: f"/files/{p}")
    assert "<script" not in html and "&lt;script&gt;" in html  # raw HTML is shown as text
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", html)  # no event attribute on any element
    assert set(re.findall(r'href="([^"]*)"', html)) == {
        "https://example.com/docs",
        "mailto:a@example.com",
        "/files/references/guide.md",
        "#usage",
    }
    assert re.findall(r"<img[^>]*>", html) == ['<img src="/files/assets/diagram.png" alt="local" loading="lazy">']
    assert "[image: remote]" in html and "[image: svg]" in html  # no remote image, no SVG as an image
    assert 'rel="nofollow noopener noreferrer"' in html


def test_relative_links_stay_inside_the_skill() -> None:
    html = render("[up](../../etc/passwd) [abs](/etc/passwd) [ok](a/../b.md)", file_url=lambda p: f"/f/{p}")
    assert "/f/../" not in html and 'href="/f/etc' not in html
    assert 'href="/f/b.md"' in html
    nested = render("[x](sibling.md)", prompt_path="skills/one/SKILL.md", file_url=lambda p: f"/f/{p}")
    assert 'href="/f/skills/one/sibling.md"' in nested


def test_frontmatter_is_split_off() -> None:
    assert split_frontmatter("---\nname: x\n---\n\n# Body\n") == ("name: x", "# Body\n")
    assert split_frontmatter("# no frontmatter\n") == ("", "# no frontmatter\n")
    assert split_frontmatter("---\nunterminated\n") == ("", "---\nunterminated\n")


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    require_tool("htpasswd")
    path = tmp_path / "htpasswd"
    out = subprocess.run(
        ["htpasswd", "-niB", "-C", "5", "alice"], input="s3cret-pw\n", capture_output=True, text=True, check=True
    ).stdout
    path.write_text(out)
    return path


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_htpasswd_users_and_tokens(htpasswd: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# CI\nci-token-0123456789abcdef\n\nother-token-abcdefghijkl\n")
    auth = Authenticator.load(htpasswd, tokens)
    assert auth is not None
    assert auth.check(basic("alice", "s3cret-pw")) == "alice"
    assert auth.check(basic("alice", "s3cret-pw")) == "alice"  # remembered
    assert auth.check(basic("alice", "wrong")) is None
    assert auth.check(basic("mallory", "s3cret-pw")) is None
    assert auth.check("Bearer ci-token-0123456789abcdef") == "token"
    assert auth.check("Bearer other-token-abcdefghijkl") == "token"
    assert auth.check("Bearer ci-token-0123456789abcde") is None
    assert auth.check("Basic !!!") is None
    assert auth.check(None) is None
    assert auth.challenge.startswith("Basic ")
    assert Authenticator.load(None, None) is None
    only_tokens = Authenticator.load(None, tokens)
    assert only_tokens is not None and only_tokens.challenge.startswith("Bearer ")
    assert only_tokens.check(basic("alice", "s3cret-pw")) is None


def test_bad_auth_files_are_refused(tmp_path: Path) -> None:
    md5 = tmp_path / "md5"
    md5.write_text("bob:$apr1$abcdefgh$0123456789012345678901\n")
    with pytest.raises(UsageError, match="only bcrypt"):
        load_htpasswd(md5)
    empty = tmp_path / "empty"
    empty.write_text("# nobody\n")
    with pytest.raises(UsageError, match="no users"):
        load_htpasswd(empty)
    short = tmp_path / "short"
    short.write_text("abc\n")
    with pytest.raises(UsageError, match="at least 16"):
        load_tokens(short)


def test_registry_specs() -> None:
    assert parse_registry("quay.io/myorg") == RegistrySource("quay.io", "myorg")
    assert parse_registry("https://localhost:5000/") == RegistrySource("localhost:5000", "")
    assert parse_registry("127.0.0.1:5000/a/b") == RegistrySource("127.0.0.1:5000", "a/b")
    for bad in ("myorg", "", "quay.io/UPPER", "bad host/x"):
        with pytest.raises(UsageError):
            parse_registry(bad)
    one = with_repositories([RegistrySource("r.example")], ["a/b", "r.example/c/d"])
    assert one == [RegistrySource("r.example", "", ("a/b", "c/d"))]


def test_repositories_attach_to_their_registry() -> None:
    two = [RegistrySource("r1.example"), RegistrySource("r2.example:5000", "ns")]
    assert with_repositories(two, ["r2.example:5000/ns/x", "r1.example/a/b"]) == [
        RegistrySource("r1.example", "", ("a/b",)),
        RegistrySource("r2.example:5000", "ns", ("ns/x",)),
    ]
    with pytest.raises(UsageError, match="name the registry"):
        with_repositories(two, ["a/b"])
    with pytest.raises(UsageError):
        with_repositories([RegistrySource("r1.example")], ["r1.example/Bad"])
    assert with_repositories([RegistrySource("r1.example")], ["a/b", "a/b"]) == [
        RegistrySource("r1.example", "", ("a/b",))
    ]


def test_durations_and_addresses() -> None:
    assert parse_duration("60s", what="x") == 60
    assert parse_duration("5m", what="x") == 300
    assert parse_duration("1.5h", what="x") == 5400
    assert parse_duration("250ms", what="x") == 0.25
    assert parse_duration("90", what="x") == 90
    for bad in ("0s", "-1s", "soon", "1d"):
        with pytest.raises(UsageError):
            parse_duration(bad, what="--sync-interval")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    assert ServeSettings(address="::", port=9).url == "http://127.0.0.1:9"
    with pytest.raises(UsageError, match="go together"):
        ServeSettings(tls_cert=Path("c")).check()


def validate(doc: dict[str, Any], version: str) -> None:
    used = kubernetes_validate.validate(copy.deepcopy(doc), version, strict=True)
    assert used is not None


@pytest.mark.parametrize("k8s", ["1.35", "1.36"])
@pytest.mark.parametrize("secrets", [False, True])
def test_kubernetes_manifests_are_valid(k8s: str, secrets: bool) -> None:
    spec = DeploySpec(
        name="skill-catalog",
        image="registry.example/skillctl:1",
        registries=["quay.io/myorg", "registry.example:5000"],
        repositories=["registry.example:5000/team/x"],
        replicas=3,
        registry_secret="regcred" if secrets else None,
        tls_secret="catalog-tls" if secrets else None,
        htpasswd_secret="catalog-users" if secrets else None,
    )
    docs = manifests(spec)
    for doc in docs:
        validate(doc, k8s)
    deployment, service = docs
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 3
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["args"][:5] == ["serve", "--address", "0.0.0.0", "--port", "8080"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    args = " ".join(container["args"])
    if secrets:
        assert "--authfile /var/run/secrets/skillctl/registry/config.json" in args
        assert "--tls-cert" in args and "--htpasswd" in args
        assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
        names = {v["name"]: v for v in pod["volumes"]}
        assert names["registry"]["secret"]["secretName"] == "regcred"
        assert service["spec"]["ports"][0]["port"] == 443
    else:
        assert "--authfile" not in args and service["spec"]["ports"][0]["port"] == 80
    assert to_yaml(docs).count("---\n") == 2


def test_kubernetes_manifests_need_an_image_and_a_registry() -> None:
    with pytest.raises(UsageError, match="--image"):
        manifests(DeploySpec(name="c", image="", registries=["quay.io/x"]))
    with pytest.raises(UsageError, match="--registry"):
        manifests(DeploySpec(name="c", image="i", registries=[]))
    with pytest.raises(UsageError, match="--name"):
        manifests(DeploySpec(name="Bad_Name", image="i", registries=["quay.io/x"]))


def test_the_listening_socket_says_it_is_tcp() -> None:
    """asyncio turns Nagle off (TCP_NODELAY) only on sockets created with IPPROTO_TCP; without it every response
    written in two parts waits for the client's delayed ACK (40 ms on Linux)."""
    import socket

    from skillctl.serve.server import bind

    sock = bind(ServeSettings(port=0))
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
