"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright with that system browser (no
browser is downloaded). It searches, filters, opens a skill, reads the rendered SKILL.md and the file tree, opens a
diff, works with JavaScript off, loads nothing from elsewhere, and a hostile SKILL.md executes nothing.

The screenshots of the main pages are taken here; with ``SKILLCTL_SCREENSHOTS=DIR`` they are also written to DIR
(``SKILLCTL_SCREENSHOTS=docs make test`` refreshes the ones the README shows).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_helpers import Server, annotations, put_skill, serving, skill_entries
from conftest import REPO, require_tool
from oci_helpers import directory, file
from registry import Registry

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

HOSTILE_MD = """\
# Totally normal skill <script>window.__pwned = 'script'</script>

<img src=x onerror="window.__pwned = 'onerror'">
<iframe src="javascript:window.top.__pwned = 'iframe'"></iframe>
<meta http-equiv="refresh" content="0; url=https://evil.example/">
<base href="https://evil.example/">
<svg onload="window.__pwned = 'svg'"></svg>
<a href="javascript:window.__pwned='raw-anchor'" id="raw-anchor">raw anchor</a>

[click me](javascript:window.__pwned='md-link') [data](data:text/html,<script>alert(1)</script>)
[vb](vbscript:msgbox(1)) <javascript:alert('autolink')> [ok](https://example.com/docs)
![track](https://evil.example/pixel.png) ![onerror](x" onerror="window.__pwned='img-attr)

```html
<script>window.__pwned = 'in code'</script>
```
"""


@pytest.fixture(scope="module")
def site(registry: Registry) -> Iterator[tuple[Server, str]]:
    require_tool("chromium")
    ns = registry.repo("x").split("/")[1]
    path = f"{ns}/doc-reviewer"
    references = [directory("references"), file("references/style.md", b"# House style\n\nShort sentences.\n")]
    v1 = skill_entries("doc-reviewer", "1.0.0", body="## Steps\n\n1. Read the document.\n2. Flag long sentences.\n",
                       extra=references)  # fmt: skip
    v2 = skill_entries(
        "doc-reviewer",
        "1.1.0",
        body="## Steps\n\n1. Read the document.\n2. Flag long sentences.\n3. Suggest a shorter one.\n",
        extra=references,
    )
    common = {"namespace": ns, "title": "Document Reviewer", "tags": ["docs", "writing"], "license": "Apache-2.0",
              "description": "Reviews documents against the house style", "compatibility": "claude-code"}  # fmt: skip
    put_skill(registry, path, "1.0.0", entries=v1, ann=annotations(version="1.0.0", status="published", **common))
    put_skill(registry, path, "1.1.0-draft", entries=v2, ann=annotations(version="1.1.0", status="draft", **common))
    put_skill(
        registry,
        f"{ns}/log-triage",
        "0.3.0-testing",
        entries=skill_entries("log-triage", "0.3.0"),
        ann=annotations(
            namespace=ns,
            version="0.3.0",
            status="testing",
            title="Log Triage",
            tags=["ops"],
            description="Summarises a service log and drafts an incident note",
        ),
    )
    hostile_entries = skill_entries("innocent", "6.6.6")
    hostile_entries[0] = file("SKILL.md", ("---\nname: innocent\ndescription: x\n---\n\n" + HOSTILE_MD).encode())
    put_skill(
        registry,
        f"{ns}/innocent",
        "6.6.6",
        entries=hostile_entries,
        ann=annotations(
            namespace="untrusted",
            version="6.6.6",
            title="<script>window.__pwned='title'</script>",
            description="<img src=x onerror=\"window.__pwned='description'\">",
            tags=["<b onmouseover=alert(1)>x</b>"],
        ),
    )
    with serving("--registry", f"{registry.host}/{ns}", "--tls-verify=false", "--agent-image", "agent:1") as srv:
        srv.wait_ready()
        yield srv, ns


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


class Watch:
    """What a page did: dialogs opened, errors thrown, requests sent elsewhere."""

    def __init__(self, page, origin: str) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(origin) else self.elsewhere.append(r.url))


def shot(page, name: str, tmp_path: Path) -> None:
    target = tmp_path / name
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000 and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wanted = os.environ.get("SKILLCTL_SCREENSHOTS")
    if wanted:
        dest = (REPO / wanted) if not Path(wanted).is_absolute() else Path(wanted)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(target, dest / name)


def test_search_open_a_skill_read_it_and_diff(site: tuple[Server, str], browser, tmp_path: Path) -> None:
    srv, ns = site
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page, srv.url)
    page.goto(srv.url + "/")
    assert page.locator("#results .result").count() == 3
    page.fill("#q", "review")
    page.press("#q", "Enter")
    page.wait_for_url("**/?q=review*")
    assert page.locator("#results .result").count() == 1
    assert page.locator("#result-count").inner_text() == "1 skill matching “review”"
    page.goto(srv.url + "/")
    page.select_option("#status", "testing")
    page.click("#search-form button[type=submit]")
    page.wait_for_url("**status=testing*")
    assert page.locator("#results .skill-link").all_inner_texts() == ["Log Triage"]
    page.goto(srv.url + f"/?namespace={ns}")
    assert page.locator("#results .skill-link").all_inner_texts() == ["Document Reviewer", "Log Triage"]
    shot(page, "catalog-search.png", tmp_path)

    page.goto(srv.url + "/?tags=docs")
    page.click("#results .skill-link")
    page.wait_for_url(f"**/skills/{ns}/doc-reviewer")
    assert page.locator("#skill-title").inner_text() == "Document Reviewer"
    assert page.locator("#markdown h1").inner_text() == "doc-reviewer"
    assert page.locator("#markdown h2").inner_text() == "Steps"
    assert page.locator("#markdown ol li").count() == 2
    assert page.locator("#files .entry-file .exec").count() == 1  # scripts/run.sh
    assert "references/" in page.locator("#files").inner_text()
    digest = page.locator("#digest").inner_text()
    assert f"@{digest} -t claude" in page.locator("#commands").inner_text()
    assert "--image agent:1" in page.locator("#commands").inner_text()
    assert page.locator("#signature").inner_text().lower() == "unsigned"
    shot(page, "catalog-skill.png", tmp_path)

    page.click("#files a:text('style.md')")  # a file opens as plain text
    assert "Short sentences." in page.content()
    page.go_back()

    page.select_option("#diff-from", "1.0.0")
    page.select_option("#diff-to", "1.1.0-draft")
    page.click("#diff-form button")
    page.wait_for_url("**/diff?from=1.0.0&to=1.1.0-draft")
    assert page.locator("#diff-title").inner_text() == "1.0.0 → 1.1.0-draft"
    assert "+3. Suggest a shorter one." in page.locator("#file-changes").inner_text()
    assert "status" in page.locator("#metadata-diff").inner_text()
    shot(page, "catalog-diff.png", tmp_path)
    assert watch.dialogs == [] and watch.errors == [] and watch.elsewhere == []
    page.close()


def test_a_hostile_skill_executes_nothing(site: tuple[Server, str], browser) -> None:
    srv, _ = site
    page = browser.new_page()
    watch = Watch(page, srv.url)
    page.goto(srv.url + "/skills/untrusted/innocent")
    page.wait_for_load_state("networkidle")
    page.goto(srv.url + "/?q=normal")  # the search page shows the hostile title and description too
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.goto(srv.url + "/skills/untrusted/innocent")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.url.startswith(srv.url)  # no meta refresh went anywhere
    markdown = page.locator("#markdown")
    assert "<script>window.__pwned = 'script'</script>" in markdown.inner_text()  # shown as text
    assert page.locator("script").count() == 0
    assert page.locator("#markdown iframe, #markdown svg, #markdown meta, #markdown base, iframe").count() == 0
    handlers = page.evaluate(
        """() => [...document.querySelectorAll('*')].flatMap(el =>
               [...el.attributes].filter(a => a.name.startsWith('on')).map(a => el.tagName + ' ' + a.name))"""
    )
    assert handlers == []
    hrefs = page.evaluate("() => [...document.querySelectorAll('#markdown a')].map(a => a.getAttribute('href'))")
    assert hrefs == ["https://example.com/docs"]
    for a in page.locator("#markdown a").all():
        assert a.get_attribute("rel") == "nofollow noopener noreferrer"
    assert page.locator("#markdown img").count() == 0  # the remote pixel became text
    assert page.locator("#skill-title").inner_text() == "<script>window.__pwned='title'</script>"
    for link in page.locator("#files a").all():  # open every file: served as text or downloads, never as pages
        response = page.request.get(srv.url + link.get_attribute("href"))
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in response.headers["content-security-policy"]
        assert response.headers["content-type"].split(";")[0] in ("text/plain", "application/octet-stream")
    assert watch.dialogs == [] and watch.errors == []
    assert watch.elsewhere == []  # nothing loaded from evil.example, or anywhere else
    page.close()


def test_the_pages_work_without_javascript(site: tuple[Server, str], browser) -> None:
    srv, ns = site
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(srv.url + "/")
    page.fill("#q", "incident")
    page.click("#search-form button[type=submit]")
    page.wait_for_url("**/?q=incident*")
    assert page.locator("#results .skill-link").all_inner_texts() == ["Log Triage"]
    page.click("#results .skill-link")
    assert page.locator("#markdown h1").inner_text() == "log-triage"
    page.goto(srv.url + f"/skills/{ns}/doc-reviewer")
    page.click("#diff-form button")
    assert page.locator("#diff-title").is_visible()
    context.close()
