"""The README a newcomer reads first: a complete contents list, and every repository path it names really there."""

from __future__ import annotations

import re
import subprocess

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
PROSE = re.sub(r"^```.*?^```", "", README, flags=re.M | re.S)  # code blocks hold no headings or links
REPO_PATH = re.compile(r"`((?:\.ci|bench|tests|examples|schemas|skillctl|backends)/[\w./-]*)`")


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_contents_lists_every_section():
    contents = PROSE.split("\n## Contents\n", 1)[1].split("\n## ", 1)[0]
    sections = [anchor(h) for h in re.findall(r"^## (.+)$", PROSE, flags=re.M) if h != "Contents"]
    linked = re.findall(r"\]\(#([^)]+)\)", contents)
    assert [a for a in linked if a in sections] == sections  # every section, in order; subsections may be added


def test_every_link_to_a_section_leads_to_one():
    anchors = {anchor(h) for h in re.findall(r"^#{2,4} (.+)$", PROSE, flags=re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", PROSE))
    assert links and links <= anchors, links - anchors


def test_repository_paths_named_are_in_the_repository():
    # bench/results/latest.md backs the benchmark table: it must be committed, not a git-ignored local file.
    paths = sorted(set(REPO_PATH.findall(PROSE)))
    assert "bench/results/latest.md" in paths
    missing = [p for p in paths if not (REPO / p).exists()]
    assert not missing, missing
    ignored = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", *paths], capture_output=True, text=True, check=False
    ).stdout.split()
    assert not ignored, ignored
