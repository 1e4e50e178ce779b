"""``skillctl serve`` from the command line: its usage errors, the missing-extra exit, --print-kube, and the promise
that the web stack never loads on any other command's path."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from cli_helpers import assert_error

WEB_STACK = ("starlette", "uvicorn", "httptools", "uvloop", "jinja2", "markdown_it", "bcrypt", "anyio")
MCP_SDK = ("mcp", "mcp_types", "pydantic", "pydantic_core", "httpx2", "sse_starlette", "opentelemetry", "jwt")


def python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, outside the source tree (so it imports the installed skillctl)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(args[0]).parent if args else None,
    )


def test_other_commands_never_import_the_web_stack(tmp_path: Path, hello: Path) -> None:
    store = tmp_path / "store"
    result = python(
        """
        import json, sys
        from click.testing import CliRunner
        from skillctl.cli.app import cli
        store = sys.argv[1]
        runs = [["--store", store, "pack", sys.argv[2]], ["--store", store, "list"], ["--store", store, "list", "-q"],
                ["--store", store, "inspect", "examples/hello-world:1.0.0-draft"], ["serve", "--help"],
                ["validate", sys.argv[2]], ["--help"], ["mcp", "--help"]]
        codes = [CliRunner().invoke(cli, argv, catch_exceptions=False).exit_code for argv in runs]
        print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
        """,
        str(store),
        str(hello),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["codes"] == [0] * 8
    loaded = {m.split(".")[0] for m in out["modules"]}
    assert not loaded & set(WEB_STACK + MCP_SDK), loaded & set(WEB_STACK + MCP_SDK)
    assert not {m for m in out["modules"] if m.startswith("skillctl.serve")} - {"skillctl.serve"}
    assert not {m for m in out["modules"] if m.startswith("skillctl.mcp")}


def test_without_the_extra_serve_exits_8_with_the_install_hint(tmp_path: Path) -> None:
    for blocked in ("starlette", "uvicorn", "jinja2", "markdown_it", "mcp"):
        result = python(
            f"""
            import sys
            sys.modules[{blocked!r}] = None  # as if the 'serve' extra were not installed
            from skillctl.cli import main
            main(["--store", sys.argv[1], "serve", "--store"])
            """,
            str(tmp_path / "store"),
        )
        assert result.returncode == 8, (blocked, result.stdout, result.stderr)
        assert f"Error: skillctl serve needs {blocked!r}, which is not installed" in result.stderr
        assert "hint: install the web server with: pip install 'skillctl[serve]'" in result.stderr
        assert "Traceback" not in result.stderr


def test_without_the_sdk_mcp_exits_8_with_the_install_hint(tmp_path: Path) -> None:
    result = python(
        """
        import sys
        sys.modules["mcp"] = None  # as if the 'mcp' extra were not installed
        from skillctl.cli import main
        main(["--store", sys.argv[1], "mcp"])
        """,
        str(tmp_path / "store"),
    )
    assert result.returncode == 8, (result.stdout, result.stderr)
    assert "Error: skillctl mcp needs 'mcp', which is not installed" in result.stderr
    assert "hint: install the MCP server with: pip install 'skillctl[mcp]'" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_bcrypt_is_needed_only_for_htpasswd(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("alice:$2b$05$" + "a" * 53 + "\n")
    result = python(
        """
        import sys
        sys.modules["bcrypt"] = None
        from skillctl.cli import main
        main(["--store", sys.argv[1], "serve", "--store", "--htpasswd", sys.argv[2]])
        """,
        str(tmp_path / "store"),
        str(htpasswd),
    )
    assert result.returncode == 8 and "needs 'bcrypt'" in result.stderr, result.stderr


def test_usage_errors(run, tmp_path: Path) -> None:
    assert_error(run("serve"), 2, "nothing to serve")
    assert_error(run("serve", "--registry", "notahost"), 2, "not a registry host")
    assert_error(run("serve", "--repositories", "a/b"), 2, "--repositories needs --registry")
    assert_error(run("serve", "--store", "--sync-interval", "soon"), 2, "not a positive duration")
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    assert_error(run("serve", "--store", "--tls-cert", str(cert)), 2, "--tls-cert and --tls-key go together")
    assert_error(
        run("serve", "--registry", "a.example", "--registry", "b.example", "--repositories", "x/y"),
        2,
        "name the registry",
    )


def test_print_kube(run) -> None:
    result = run(
        "serve", "--registry", "quay.io/myorg", "--print-kube", "--image", "registry.example/skillctl:1",
        "--replicas", "3", "--registry-secret", "regcred", "--tls-verify=false",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    args = docs[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--registry") + 1] == "quay.io/myorg"
    assert "--tls-verify=false" in args and "--authfile" in args
    assert docs[0]["spec"]["replicas"] == 3
    as_json = json.loads(
        run("serve", "--registry", "quay.io/x", "--print-kube", "--image", "i:1", "--format", "json").stdout
    )
    assert as_json["kind"] == "List" and len(as_json["items"]) == 2
    assert_error(run("serve", "--registry", "quay.io/x", "--print-kube"), 2, "--image is needed")
    assert_error(
        run("serve", "--store", "--registry", "quay.io/x", "--print-kube", "--image", "i"), 2, "no local store"
    )
