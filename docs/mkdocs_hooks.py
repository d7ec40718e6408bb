"""MkDocs hooks: the site carries its own copy of mermaid.js, so diagrams render with no network.

Material for MkDocs draws ``mermaid`` blocks with the global ``mermaid`` object when a page already
has one and only otherwise loads it from a CDN. The copy pinned in package.json (installed by
``npm ci``) is added to the site and loaded on every page through ``extra_javascript``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
MERMAID = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
#: Where the copy lands in the site; mkdocs.yml's extra_javascript names the same path.
MERMAID_SITE_PATH = "assets/javascripts/mermaid.min.js"


def on_files(files: Files, config: Any) -> Files:
    if not MERMAID.is_file():
        raise FileNotFoundError(f"{MERMAID} is missing: run `make install` (npm ci installs the pinned mermaid)")
    files.append(File.generated(config, MERMAID_SITE_PATH, abs_src_path=str(MERMAID)))
    return files
