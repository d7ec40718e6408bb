"""The built documentation site loads nothing from outside itself, so it works with no network."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Elements whose URL the browser fetches to render the page (an <a href> is only a link).
FETCHED = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"), ("video", "src"), ("audio", "src")}
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])(?P<url>[^'")\s]+)""")


class _Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link" and values.get("rel") not in {None, "canonical", "alternate", "next", "prev"}:
            self.urls.append(values.get("href", ""))
        self.urls.extend(
            value for (element, attribute) in FETCHED if element == tag for value in [values.get(attribute)] if value
        )
        if "style" in values:
            self.inline_css.append(values["style"])
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.inline_css.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False


def _external(url: str) -> bool:
    parsed = urlparse(url)
    return bool(parsed.scheme in {"http", "https"} or url.startswith("//"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(outdir)],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return outdir


def test_pages_fetch_no_script_style_font_or_image_from_outside_the_site(site: Path) -> None:
    outside = []
    for page in site.rglob("*.html"):
        parser = _Resources()
        parser.feed(page.read_text())
        urls = parser.urls + [m["url"] for css in parser.inline_css for m in CSS_URL.finditer(css)]
        outside += [f"{page.relative_to(site)}: {url}" for url in urls if _external(url)]
    for stylesheet in site.rglob("*.css"):
        outside += [
            f"{stylesheet.relative_to(site)}: {m['url']}"
            for m in CSS_URL.finditer(stylesheet.read_text())
            if _external(m["url"])
        ]
    assert outside == []


def test_every_page_with_a_diagram_loads_the_sites_own_mermaid(site: Path) -> None:
    with_diagrams = [page for page in site.rglob("*.html") if 'class="mermaid"' in page.read_text()]
    assert with_diagrams, "the site has Mermaid diagrams"
    for page in with_diagrams:
        scripts = [url for url in _script_sources(page) if url.endswith("mermaid.min.js")]
        assert len(scripts) == 1 and not _external(scripts[0]), page
        assert (page.parent / scripts[0]).resolve().is_file(), page
    assert (site / "assets/javascripts/mermaid.min.js").stat().st_size > 1_000_000


def test_the_checker_sees_an_outside_script_font_and_css_import() -> None:
    parser = _Resources()
    parser.feed(
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
        '<script src="https://unpkg.com/mermaid@11/dist/mermaid.min.js"></script>'
        '<a href="https://example.com/">a link is not fetched</a><style>@import "https://x.test/a.css";</style>'
    )
    css = [m["url"] for text in parser.inline_css for m in CSS_URL.finditer(text)]
    assert [url for url in parser.urls + css if _external(url)] == [
        "https://fonts.googleapis.com/css?family=Roboto",
        "https://unpkg.com/mermaid@11/dist/mermaid.min.js",
        "https://x.test/a.css",
    ]


def _script_sources(page: Path) -> list[str]:
    parser = _Resources()
    parser.feed(page.read_text())
    return [url for url in parser.urls if url.endswith(".js")]
