"""The documentation site's sources: every nav entry is a page, every page is in the nav, the README's links
resolve, its two commands are the ones that work, and the lifecycle page shows the package's table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from realtime_service.lifecycle import SHUTDOWNS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
COMMAND_1 = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
    "realtime-service create-session --emulator --model gpt-realtime-2.1 --voice marin"
)
COMMAND_2 = ". .venv/bin/activate && pip install -e '.[test]' && python -m pytest"


def nav_pages(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [page for item in node for page in nav_pages(item)]
    if isinstance(node, dict):
        return [page for value in node.values() for page in nav_pages(value)]
    return []


def mkdocs_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return loaded


def test_every_nav_entry_is_a_page() -> None:
    pages = nav_pages(mkdocs_config()["nav"])
    missing = {page for page in pages if not (DOCS / page).is_file()}
    assert missing == set()
    assert len(pages) == len(set(pages))


def test_every_page_is_in_the_nav() -> None:
    pages = set(nav_pages(mkdocs_config()["nav"]))
    on_disk = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert on_disk - pages == set()


def test_the_required_pages_are_there() -> None:
    pages = set(nav_pages(mkdocs_config()["nav"]))
    for page in (
        "getting-started.md",
        "host-applications.md",
        "token-endpoint.md",
        "token-endpoint-security.md",
        "signaling.md",
        "phone-calls.md",
        "emulator-and-testing.md",
        "configuration.md",
        "errors-and-retries.md",
        "reliability.md",
        "reference.md",
    ):
        assert page in pages


def test_the_placeholder_pages_say_they_are_placeholders() -> None:
    for page in ("signaling.md", "phone-calls.md"):
        text = (DOCS / page).read_text(encoding="utf-8")
        # Until the real page replaces it, a placeholder says plainly that nothing is built.
        assert "placeholder" not in text or "**Not built yet.**" in text


def test_the_build_is_offline_and_strict() -> None:
    config = mkdocs_config()
    assert config["strict"] is True
    assert config["theme"]["font"] is False  # no Google Fonts
    plugins = [next(iter(p)) if isinstance(p, dict) else p for p in config["plugins"]]
    assert set(plugins) <= {"search", "mkdocstrings"}
    handler = config["plugins"][1]["mkdocstrings"]["handlers"]["python"]
    assert "inventories" not in handler  # an inventory would be fetched
    assert "import" not in handler


def test_the_api_reference_names_modules_that_exist() -> None:
    import importlib

    text = (DOCS / "reference.md").read_text(encoding="utf-8")
    targets = re.findall(r"^::: (\S+)$", text, re.MULTILINE)
    assert targets
    for target in targets:
        try:
            importlib.import_module(target)
        except ModuleNotFoundError:
            module, _, attribute = target.rpartition(".")
            assert hasattr(importlib.import_module(module), attribute), target


def test_the_readme_keeps_its_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"\n{COMMAND_1}\n" in text
    assert f"\n{COMMAND_2}\n" in text
    assert text.index(COMMAND_1) < text.index(COMMAND_2)


def test_the_readme_is_short_and_its_links_resolve() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 130  # a page, not a manual: the rest is in docs/
    links = [link for link in re.findall(r"\]\(([^)]+)\)", text) if not link.startswith("http")]
    assert links
    for link in links:
        assert (ROOT / link.split("#")[0]).is_file(), link


def test_the_docs_links_between_pages_resolve() -> None:
    for page in DOCS.rglob("*.md"):
        for link in re.findall(r"\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            if link.startswith(("http://", "https://", "#")):
                continue
            assert (page.parent / link.split("#")[0]).is_file(), f"{page.name}: {link}"


def test_the_lifecycle_page_shows_the_packages_table() -> None:
    text = (DOCS / "model-lifecycle.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| (\d{4}-\d{2}-\d{2}) \| ([^|]+) \| ([^|]+) \|$", text, re.MULTILINE)
    assert [(m, d, r.strip(), s.strip()) for m, d, r, s in rows] == [
        (row.model, row.date.isoformat(), row.replacement, row.source) for row in SHUTDOWNS
    ]


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `mkdocs build --strict` renders it: what a reader sees, not what the Markdown meant."""
    pytest.importorskip("mkdocs", reason="the docs extra (installed by dev) builds the site")
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return site


def numbered_lists(markdown: str) -> list[int]:
    """The length of each numbered list in a page's source: ``1.`` starts one, each later number extends it."""
    lengths: list[int] = []
    for number in re.findall(r"^ {0,3}(\d+)\. ", markdown, re.MULTILINE):
        if number == "1":
            lengths.append(1)
        else:
            assert lengths, "a numbered list that does not start at 1"
            lengths[-1] = max(lengths[-1], int(number))
    return lengths


def rendered_lists(html: str) -> list[int]:
    """The number of items of each top-level ``<ol>`` of the page's content (the theme's search list excluded)."""
    lengths = []
    for match in re.finditer(r"<ol(?P<attributes>[^>]*)>(?P<body>.*?)</ol>", html, re.DOTALL):
        if "md-search-result" in match["attributes"]:
            continue
        assert "start=" not in match["attributes"], "a list that restarts part-way"
        lengths.append(len(re.findall(r"<li>", match["body"])))
    return lengths


def test_the_built_site_shows_no_markdown_leftovers(built_site: Path) -> None:
    pages = nav_pages(mkdocs_config()["nav"])
    assert pages
    for page in pages:
        html_file = built_site / ("index.html" if page == "index.md" else page.removesuffix(".md") + "/index.html")
        html = html_file.read_text(encoding="utf-8")
        content = html[html.index('<article class="md-content__inner') : html.index("</article>")]
        assert "\\|" not in content, f"{page}: a table shows a literal \\| (a pipe inside code needs no escape here)"
        assert "```" not in content, f"{page}: a code fence was not recognised (indent it inside its list item)"
        source = (DOCS / page).read_text(encoding="utf-8")
        assert rendered_lists(content) == numbered_lists(source), f"{page}: a numbered list restarts or breaks"
        for paragraph in re.findall(r"<p>(.*?)</p>", re.sub(r"<code>.*?</code>", "CODE", content), re.DOTALL):
            # A list straight after a paragraph's last line, with no blank line between, stays paragraph text.
            shown_as_text = re.search(r"\n\s*(?:[-*+]|\d+\.) ", paragraph)
            assert not shown_as_text, f"{page}: a list shown as text (a blank line before it): {paragraph[:200]}"


def test_the_layout_tree_is_the_same_in_the_readme_and_the_reference() -> None:
    def tree(text: str) -> str:
        start = text.index("```text\nrealtime_service/")
        return text[start : text.index("```\n", start + 8)]

    readme = tree((ROOT / "README.md").read_text(encoding="utf-8"))
    assert readme == tree((DOCS / "reference.md").read_text(encoding="utf-8"))
    packages = [path.name for path in (ROOT / "realtime_service").iterdir() if (path / "__init__.py").is_file()]
    for folder in sorted(packages):
        assert f"── {folder}/ " in readme, f"realtime_service/{folder} is missing from the layout tree"
    web = [path.name for path in (ROOT / "realtime_service" / "web").iterdir() if (path / "__init__.py").is_file()]
    for folder in sorted(web):
        assert f"│   ├── {folder}/ " in readme or f"│   └── {folder}/ " in readme, f"web/{folder} is not in the tree"
