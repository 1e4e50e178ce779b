"""The agents skillctl installs into and where their skill directories are: a table with no imports, so that
the CLI can offer ``--target`` choices without loading the installer."""

from __future__ import annotations

from typing import Final

# (user directory relative to $HOME, project directory relative to the working directory)
TARGETS: Final = {
    "claude": (".claude/skills", ".claude/skills"),
    "cursor": (".cursor/skills", ".cursor/skills"),
    "windsurf": (".codeium/windsurf/skills", ".windsurf/skills"),
    "opencode": (".config/opencode/skills", ".opencode/skills"),
    "openclaw": (".openclaw/skills", ".openclaw/skills"),
    "agents": (".agents/skills", ".agents/skills"),
}
