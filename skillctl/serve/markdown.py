"""SKILL.md to HTML for the catalog page. Skill content is untrusted.

Raw HTML in the Markdown is shown as text (markdown-it's ``html`` off), links
are kept only for ``http``, ``https``, ``mailto`` and relative targets (no
``javascript:``, ``data:``, ``vbscript:`` ...), every link gets
``rel="nofollow noopener noreferrer"``, relative links and images point at the
version's own files, and images from elsewhere become a text placeholder (the
page loads nothing from outside; the Content-Security-Policy says so too).
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, Final

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

_SCHEME: Final = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_SAFE_SCHEMES: Final = frozenset({"http", "https", "mailto"})
_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def _allowed(url: str) -> bool:
    match = _SCHEME.match(url.strip())
    if match is None:
        return not url.strip().startswith("//")  # relative, or a fragment; never protocol-relative
    return match.group(1).lower() in _SAFE_SCHEMES


def _relative_target(url: str, base_dir: str, file_url: Callable[[str], str]) -> str | None:
    """A link to a file of the skill itself, as a URL of the catalog; None when it is not one."""
    if _SCHEME.match(url) or url.startswith(("#", "/", "?")):
        return None
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    joined = posixpath.normpath(posixpath.join(base_dir, path)) if path else ""
    if not joined or joined == "." or joined.startswith("../") or joined == "..":
        return None
    return file_url(joined)


def render(text: str, *, prompt_path: str = "SKILL.md", file_url: Callable[[str], str] | None = None) -> str:
    """HTML for a SKILL.md body; ``file_url(path)`` makes the URL of one of the skill's files."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.validateLink = _allowed  # type: ignore[method-assign]
    base_dir = posixpath.dirname(prompt_path)

    def link_open(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        href = token.attrGet("href") or ""
        if file_url and (target := _relative_target(href, base_dir, file_url)):
            token.attrSet("href", target)
        token.attrSet("rel", "nofollow noopener noreferrer")
        return self.renderToken(tokens, idx, options, env)

    def image(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = token.attrGet("src") or ""
        alt = self.renderInlineAsText(token.children or [], options, env)
        target = _relative_target(src, base_dir, file_url) if file_url else None
        if target and target.lower().endswith(_IMAGE_SUFFIXES):
            return f'<img src="{escapeHtml(target)}" alt="{escapeHtml(alt)}" loading="lazy">'
        return f'<span class="external-image" title="{escapeHtml(src)}">[image: {escapeHtml(alt)}]</span>'

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("image", image)
    return md.render(text)


def split_frontmatter(text: str) -> tuple[str, str]:
    """``(frontmatter, body)``: the YAML block at the top is shown apart, as text."""
    if text.startswith("---\n") or text.startswith("---\r\n"):
        end = re.search(r"^---[ \t]*\r?$", text[4:], re.MULTILINE)
        if end:
            return text[4 : 4 + end.start()].rstrip("\r\n"), text[4 + end.end() :].lstrip("\r\n")
    return "", text
