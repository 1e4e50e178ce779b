"""The catalog server: serve (or print its Kubernetes manifests)."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import sys
from pathlib import Path
from typing import Any

import click

from skillctl.cli.context import Settings
from skillctl.cli.options import SizeType, registry_options
from skillctl.cli.output import emit_json, warn
from skillctl.core.errors import ToolNotFoundError, UsageError

WEB_MODULES = ("starlette", "uvicorn", "jinja2", "markdown_it", "mcp")
INSTALL_HINT = "install the web server with: pip install 'skillctl[serve]'"


def require_web_stack(*, bcrypt: bool) -> None:
    """The ``serve`` extra, imported only now (never on any other command's path).

    Raises:
        ToolNotFoundError: part of it is missing (exit 8).
    """
    for name in (*WEB_MODULES, *(("bcrypt",) if bcrypt else ())):
        try:
            importlib.import_module(name)
        except ImportError:
            raise ToolNotFoundError(
                f"skillctl serve needs {name!r}, which is not installed", hint=INSTALL_HINT
            ) from None


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.command(short_help="Serve a registry catalog: web UI, REST API, MCP, metrics.")
@click.option(
    "--registry",
    "registries",
    multiple=True,
    metavar="HOST[/NAMESPACE]",
    help="A registry to index (repeatable): every repository its catalog lists under NAMESPACE.",
)
@click.option(
    "--repositories",
    "repositories",
    multiple=True,
    metavar="LIST",
    help="Index exactly these repositories (comma-separated, repeatable; HOST/path, or path with one "
    "--registry), for registries without a catalog.",
)
@click.option("--store", "include_store", is_flag=True, help="Also index the local store (the global --store path).")
@click.option("--db", default=":memory:", show_default=True, metavar="PATH", help="SQLite index: a file, or :memory:.")
@click.option(
    "--sync-interval", default="60s", show_default=True, metavar="DURATION", help="Time between syncs (30s, 5m, 1h)."
)
@click.option(
    "--recheck-after",
    default="15m",
    show_default=True,
    help="Re-check a known tag's digest (one HEAD) when it was last checked this long ago.",
)
@click.option(
    "--sync-workers",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Repositories synced at the same time.",
)
@click.option(
    "--verify-key",
    "verify_keys",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Public key that signature status is verified against (repeatable).",
)
@click.option("--address", default="127.0.0.1", show_default=True, metavar="ADDR", help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port (0: any free one).")
@click.option(
    "--tls-cert", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="Serve HTTPS: certificate."
)
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False, exists=True), help="Serve HTTPS: its key.")
@click.option(
    "--htpasswd",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Require a user from this htpasswd file (bcrypt entries: htpasswd -B).",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Accept these bearer tokens (one per line).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where unpacked versions are cached (default: a temporary directory, removed at exit).",
)
@click.option("--cache-size", type=SizeType(), default="512M", show_default=True, help="Disk budget of that cache.")
@click.option(
    "--max-layer-size",
    type=SizeType(),
    default="64M",
    show_default=True,
    help="Refuse to download a version whose layers are larger.",
)
@click.option(
    "--agent-image",
    default="AGENT_IMAGE",
    show_default=True,
    help="The agent image named in the UI's 'skillctl kube' command.",
)
@click.option(
    "--mcp-state",
    "mcp_states",
    multiple=True,
    metavar="STATE",
    help="MCP at /mcp serves versions in these states (default: published; archived never).",
)
@click.option("--access-log", is_flag=True, help="Log every request.")
@click.option("--print-kube", is_flag=True, help="Print a Deployment and Service running this catalog, and exit.")
@click.option("--image", help="With --print-kube: an image that has skillctl[serve] installed.")
@click.option("--replicas", type=click.IntRange(min=1), default=2, show_default=True, help="With --print-kube.")
@click.option("--name", default="skill-catalog", show_default=True, help="With --print-kube: the object names.")
@click.option("--registry-secret", help="With --print-kube: a dockerconfigjson Secret with registry credentials.")
@click.option("--tls-secret", help="With --print-kube: a kubernetes.io/tls Secret to serve HTTPS with.")
@click.option("--htpasswd-secret", help="With --print-kube: a Secret with an 'htpasswd' key.")
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="With --print-kube."
)
@registry_options
@click.pass_obj
def serve(settings: Settings, **options: Any) -> None:
    """Serve a catalog of the skills in registries: web UI, the Go tool's REST API, metrics.

    Indexes manifests only (layers are read when someone opens a version), keeps
    the index in step every --sync-interval, and serves http://127.0.0.1:8080
    by default, read-only and open: add --htpasswd or --token-file (and
    --tls-cert/--tls-key) before listening on other addresses. Needs the web
    server extra: pip install 'skillctl[serve]'.

    \b
    skillctl serve --registry quay.io/myorg
    skillctl serve --registry localhost:5000 --tls-verify=false --store
    skillctl serve --registry quay.io/myorg --print-kube --image registry.example/skillctl:1
    """
    from skillctl.catalog.sources import StoreSource, parse_registry, with_repositories
    from skillctl.mcp.entries import parse_states
    from skillctl.serve.settings import ServeSettings, is_loopback, parse_duration

    o = options
    mcp_states = parse_states(o["mcp_states"])
    sync_interval = parse_duration(o["sync_interval"], what="--sync-interval")
    recheck_after = parse_duration(o["recheck_after"], what="--recheck-after")
    registries = [parse_registry(spec) for spec in o["registries"]]
    repositories = _split(o["repositories"])
    if repositories and not registries:
        raise UsageError("--repositories needs --registry (the host to read them from)")
    sources: list[Any] = with_repositories(registries, repositories)
    if o["print_kube"]:
        _print_kube(o, registries, repositories)
        return
    if o["include_store"]:
        sources.append(StoreSource(settings.store_path))
    if not sources:
        raise UsageError("nothing to serve: give --registry HOST[/NAMESPACE] (repeatable), --store, or both")
    serve_settings = ServeSettings(
        address=o["address"],
        port=o["port"],
        tls_cert=o["tls_cert"],
        tls_key=o["tls_key"],
        htpasswd=o["htpasswd"],
        token_file=o["token_file"],
        agent_image=o["agent_image"],
        access_log=o["access_log"],
    )
    serve_settings.check()
    require_web_stack(bcrypt=o["htpasswd"] is not None)

    from skillctl.catalog.content import ContentLimits
    from skillctl.catalog.service import Catalog, CatalogSettings
    from skillctl.image.unpack import UnpackLimits
    from skillctl.serve.auth import Authenticator
    from skillctl.serve.server import run

    auth = Authenticator.load(o["htpasswd"], o["token_file"])
    if auth is None and not is_loopback(o["address"]):
        warn(f"listening on {o['address']} without --htpasswd or --token-file: anyone who reaches it reads the catalog")
    if o["access_log"]:
        access = logging.getLogger("uvicorn.access")
        access.addHandler(logging.StreamHandler(sys.stderr))
        access.setLevel(logging.INFO)
    catalog = Catalog(
        CatalogSettings(
            sources=sources,
            db=o["db"],
            cache_dir=o["cache_dir"],
            # A server runs for as long as it is up: --timeout bounds each registry read (60 s at most), not the run.
            opts=dataclasses.replace(o["registry"], deadline=None),
            backend=o["backend"],
            verify_keys=o["verify_keys"],
            sync_interval=sync_interval,
            recheck_after=recheck_after,
            workers=o["sync_workers"],
            limits=ContentLimits(
                max_layer_bytes=o["max_layer_size"],
                unpack=UnpackLimits(max_bytes=4 * o["max_layer_size"], max_files=10_000),
                cache_bytes=o["cache_size"],
            ),
        )
    )
    names = ", ".join(s.describe() for s in sources)
    from skillctl.mcp.skills import SkillsService
    from skillctl.mcp.sources import CatalogSource

    skills = SkillsService(
        [CatalogSource(catalog)],
        states=mcp_states,
        ttl_ms=int(sync_interval * 1000),
        cache_scope="public" if auth is None else "private",
    )

    def listening(url: str) -> None:
        click.echo(f"Serving the skill catalog of {names} at {url}", nl=True)
        click.echo(f"  API: {url}/api/v1/skills   MCP: {url}/mcp   health: {url}/healthz   readiness: {url}/readyz")
        sys.stdout.flush()

    try:
        run(catalog, serve_settings, auth=auth, on_listening=listening, skills=skills)
    finally:
        skills.close()
        catalog.close()


def _print_kube(o: dict[str, Any], registries: list[Any], repositories: list[str]) -> None:
    from skillctl.serve.deploy import DeploySpec, manifests, to_yaml

    if o["include_store"]:
        raise UsageError("--store cannot be used with --print-kube: a pod has no local store")
    spec = DeploySpec(
        name=o["name"],
        image=o["image"] or "",
        registries=[f"{r.host}/{r.namespace}" if r.namespace else r.host for r in registries],
        repositories=repositories,
        replicas=o["replicas"],
        sync_interval=o["sync_interval"],
        registry_secret=o["registry_secret"],
        tls_secret=o["tls_secret"],
        htpasswd_secret=o["htpasswd_secret"],
        extra_args=[] if o["registry"].tls_verify else ["--tls-verify=false"],
    )
    docs = manifests(spec)
    if o["fmt"] == "json":
        emit_json({"apiVersion": "v1", "kind": "List", "items": docs})
    else:
        click.echo(to_yaml(docs), nl=False)


COMMANDS = [serve]
