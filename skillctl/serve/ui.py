"""The web UI: server-rendered HTML (Jinja2, autoescaped) that works without JavaScript.

Pages: search with filters (``/``), a skill with its versions, rendered
SKILL.md, files, signature status and copy-ready commands pinned to the digest
(``/skills/{ns}/{name}``), a diff of two versions (``.../diff``), and the
collections. Everything the pages need is in the package (no CDN, no fonts
from elsewhere), and skill content is escaped or rendered by ``markdown``.
"""

from __future__ import annotations

import shlex
import urllib.parse
from pathlib import Path
from typing import Any, Final

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from skillctl.catalog.query import Query
from skillctl.catalog.records import SkillVersion
from skillctl.catalog.service import Catalog, ordered, pick_latest
from skillctl.core.errors import NotFoundError, SkillctlError, UsageError
from skillctl.core.states import STATES
from skillctl.serve.api import status_for
from skillctl.serve.markdown import render, split_frontmatter
from skillctl.serve.settings import ServeSettings

HERE: Final = Path(__file__).resolve().parent


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["size"] = human_size
    env.filters["short"] = lambda digest: digest.split(":", 1)[-1][:12]
    env.filters["quote"] = lambda value: urllib.parse.quote(str(value), safe="")
    env.filters["quote_path"] = lambda value: urllib.parse.quote(str(value), safe="/")
    return env


def skill_url(namespace: str, name: str) -> str:
    return f"/skills/{urllib.parse.quote(namespace, safe='/')}/{urllib.parse.quote(name, safe='')}"


def file_url(version: SkillVersion, path: str) -> str:
    return (
        f"/api/v1/skills/{urllib.parse.quote(version.namespace, safe='/')}/{urllib.parse.quote(version.name, safe='')}"
        f"/versions/{urllib.parse.quote(version.tag, safe='')}/files/{urllib.parse.quote(path, safe='/')}"
    )


def commands(version: SkillVersion, catalog: Catalog, settings: ServeSettings) -> dict[str, str]:
    """Copy-ready commands, pinned to the digest so what is installed is what was looked at."""
    ref = shlex.quote(version.pinned)
    tls = " --tls-verify=false" if version.registry and not catalog.settings.opts.tls_verify else ""
    return {
        "install": f"skillctl install {ref} -t claude{tls}",
        "pull": f"skillctl pull {ref} -o ./skills{tls}",
        "kube": f"skillctl kube {ref} --image {shlex.quote(settings.agent_image)}{tls}",
    }


def ui_routes(catalog: Catalog, settings: ServeSettings) -> list[Any]:
    env = _environment()
    env.globals.update(title=settings.title, skill_url=skill_url, file_url=file_url, states=STATES)

    def page(template: str, code: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=code)

    def error_page(exc: SkillctlError) -> HTMLResponse:
        status = status_for(exc)
        return page("error.html", status, status=status, message=exc.message, catalog_status=catalog.status())

    def index(request: Request) -> Response:
        params = request.query_params
        try:
            query = Query.from_params(params, text_sort="relevance")
        except UsageError as exc:
            return error_page(exc)
        summaries, total = catalog.search_skills(query)
        pages = max(1, -(-total // query.per_page))
        base = {k: v for k, v in params.items() if k != "page" and v}
        return page(
            "index.html",
            query=query,
            summaries=summaries,
            total=total,
            page_number=query.page,
            pages=pages,
            prev_url="?" + urllib.parse.urlencode({**base, "page": query.page - 1}) if query.page > 1 else None,
            next_url="?" + urllib.parse.urlencode({**base, "page": query.page + 1}) if query.page < pages else None,
            facets=catalog.facets(),
            catalog_status=catalog.status(),
        )

    def skill(request: Request) -> Response:
        ns, name = request.path_params["ns"], request.path_params["name"]
        try:
            versions = ordered(catalog.versions(ns, name))
            wanted = request.query_params.get("version")
            current = catalog.resolve(ns, name, wanted) if wanted else pick_latest(versions)
        except SkillctlError as exc:
            return error_page(exc)
        prompt_html = frontmatter = prompt_path = None
        files = None
        content_error = None
        try:
            files = catalog.files(current)
            found = catalog.skill_md(current)
            if found:
                prompt_path, text = found
                frontmatter, body = split_frontmatter(text)
                prompt_html = render(body, prompt_path=prompt_path, file_url=lambda p: file_url(current, p))
        except SkillctlError as exc:
            content_error = f"{exc.message}"
        signature = catalog.signature(current)
        older = [v for v in versions if v.tag != current.tag and v.digest != current.digest]
        return page(
            "skill.html",
            ns=ns,
            name=name,
            versions=versions,
            current=current,
            skill_tags=current.skill_tags,
            commands=commands(current, catalog, settings),
            prompt_html=prompt_html,
            prompt_path=prompt_path,
            frontmatter=frontmatter,
            files=files,
            content_error=content_error,
            signature=signature,
            diff_from=older[0].tag if older else current.tag,
            catalog_status=catalog.status(),
        )

    def diff(request: Request) -> Response:
        ns, name = request.path_params["ns"], request.path_params["name"]
        old, new = request.query_params.get("from", ""), request.query_params.get("to", "")
        try:
            versions = ordered(catalog.versions(ns, name))
            result = catalog.diff(ns, name, old, new)
        except SkillctlError as exc:
            return error_page(exc)
        return page(
            "diff.html",
            ns=ns,
            name=name,
            versions=versions,
            result=result,
            catalog_status=catalog.status(),
        )

    def collections(request: Request) -> Response:
        items = catalog.collections()
        return page("collections.html", collections=items, catalog_status=catalog.status())

    def collection(request: Request) -> Response:
        import json

        try:
            found = catalog.collection(request.path_params["name"])
        except NotFoundError as exc:
            return error_page(exc)
        try:
            entries = json.loads(found.skills_json)
        except ValueError:
            entries = []
        return page("collection.html", collection=found, entries=entries, catalog_status=catalog.status())

    def favicon(request: Request) -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    return [
        Route("/", index, methods=["GET"]),
        Route("/skills/{ns:ns}/{name}/diff", diff, methods=["GET"]),
        Route("/skills/{ns:ns}/{name}", skill, methods=["GET"]),
        Route("/collections", collections, methods=["GET"]),
        Route("/collections/{name}", collection, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
