"""The README and docs/ stand on their own: every link stays in the repository and resolves.

A user reads a fresh clone. A relative link must name a file (or directory) of the repository
that exists and that git does not ignore, and a `#fragment` into Markdown must name a heading
there. Web links are fine (public sites), except to internal hosts or to our internal docs.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([REPO_ROOT / "README.md", *(REPO_ROOT / "docs").glob("*.md")])

# Hosts that are not public sites: a reader of the repository cannot follow them.
PRIVATE_HOSTS = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|0\.0\.0\.0|\[::1\]|[^.]+)$")
# Our internal spec lived beside the repository; nothing may point there, whatever the form.
INTERNAL = re.compile(r"(^|/)shared/docs(/|$)|^\.\./shared(/|$)")

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_AUTOLINK = re.compile(r"<((?:https?|ftp|file)://[^>\s]+)>")
_HTML = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True, slots=True)
class Link:
    """A link target found in a document, with its line."""

    document: Path
    line: int
    target: str


def unfenced(text: str) -> Iterator[tuple[int, str]]:
    """The lines outside fenced code blocks, with their numbers."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def prose(text: str) -> Iterator[tuple[int, str]]:
    """The lines outside fenced code, with code spans blanked (links in code are not links)."""
    for number, line in unfenced(text):
        yield number, _CODE_SPAN.sub("", line)


def links(document: Path, text: str) -> list[Link]:
    """Every link target of a Markdown document."""
    found = []
    for number, line in prose(text):
        for pattern in (_INLINE, _REFERENCE, _AUTOLINK, _HTML):
            for match in pattern.finditer(line):
                found.append(Link(document, number, match.group(1)))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor of a heading's text."""
    shown = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    shown = shown.replace("`", "").replace("*", "")
    kept = "".join(c for c in shown.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown document's headings (repeats get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in unfenced(text):
        match = _HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def ignored(path: Path) -> bool:
    """Whether git ignores a path (so a fresh clone does not have it)."""
    result = subprocess.run(
        ["git", "check-ignore", "-q", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def problem(link: Link, root: Path = REPO_ROOT) -> str | None:
    """What is wrong with a link; None when a reader of the repository can follow it."""
    target = link.target
    if INTERNAL.search(target):
        return "points to the internal docs, outside the repository"
    parts = urlsplit(target)
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        if PRIVATE_HOSTS.match(host):
            return f"points to {host}, not a public site"
        return None
    if parts.scheme == "mailto":
        return None
    if parts.scheme or parts.netloc:
        return f"scheme {parts.scheme or '//'} is not a link a reader can follow"
    if parts.path.startswith("/"):
        return "absolute path: write it relative to the document"
    document = link.document
    destination = (document.parent / unquote(parts.path)).resolve() if parts.path else document
    if not destination.is_relative_to(root.resolve()):
        return "leaves the repository"
    if not destination.exists():
        return f"{destination.relative_to(root.resolve())} does not exist"
    if parts.path and ignored(destination):
        return f"{destination.relative_to(root.resolve())} is ignored by git"
    fragment = unquote(parts.fragment)
    if (
        fragment
        and destination.suffix == ".md"
        and fragment not in anchors(destination.read_text(encoding="utf-8"))
    ):
        return f"no heading #{fragment} in {destination.name}"
    return None


def _all_links() -> list[Link]:
    found = []
    for document in DOCUMENTS:
        found += links(document, document.read_text(encoding="utf-8"))
    return found


def test_the_documents_exist() -> None:
    """The README and the docs this test covers are there (an empty list would pass anything)."""
    names = {path.relative_to(REPO_ROOT).as_posix() for path in DOCUMENTS}
    assert {"README.md", "docs/reference.md", "docs/behaviour.md", "docs/operations.md"} <= names


@pytest.mark.parametrize(
    "document", DOCUMENTS, ids=lambda path: path.relative_to(REPO_ROOT).as_posix()
)
def test_links_stay_in_the_repository(document: Path) -> None:
    """Every link of the document resolves inside a fresh clone (or is a public web link)."""
    failures = [
        f"{link.document.relative_to(REPO_ROOT)}:{link.line}: {link.target}: {reason}"
        for link in links(document, document.read_text(encoding="utf-8"))
        if (reason := problem(link)) is not None
    ]
    assert failures == []


def test_the_readme_links_the_docs() -> None:
    """The README's Documentation list leads to each document of docs/."""
    readme = REPO_ROOT / "README.md"
    targets = {link.target.split("#")[0] for link in _all_links() if link.document == readme}
    for name in ("docs/reference.md", "docs/behaviour.md", "docs/operations.md", "docs/server.md"):
        assert name in targets, name


# The checker itself: each kind of bad link is caught, good ones pass.

BAD = [
    pytest.param("[API](../shared/docs/api.md)", "internal", id="shared-docs"),
    pytest.param("[API](../../shared/docs/api.md)", "internal", id="shared-docs-deeper"),
    pytest.param("[x](../../README.md)", "leaves the repository", id="outside"),
    pytest.param("[x](docs/nope.md)", "does not exist", id="missing"),
    pytest.param("[x](/docs/server.md)", "absolute", id="absolute"),
    pytest.param("[x](docs/server.md#no-such-heading)", "no heading", id="bad-anchor"),
    pytest.param("[x](http://localhost:8080/)", "not a public site", id="localhost"),
    pytest.param("[x](https://wiki/internal)", "not a public site", id="intranet"),
    pytest.param("[x](file:///etc/passwd)", "scheme", id="file"),
    pytest.param('<a href="../shared/docs/domain.md">x</a>', "internal", id="html"),
    pytest.param("[x]: ../shared/docs/domain.md", "internal", id="reference-definition"),
]


@pytest.mark.parametrize(("markdown", "expected"), BAD)
def test_a_bad_link_is_caught(markdown: str, expected: str) -> None:
    """The check fails for each way a link can leave the repository."""
    found = links(REPO_ROOT / "README.md", markdown)
    assert len(found) == 1
    reason = problem(found[0])
    assert reason is not None
    assert expected in reason


@pytest.mark.parametrize(
    "markdown",
    [
        pytest.param("[server](docs/server.md)", id="relative"),
        pytest.param("[page](docs/public-page.png)", id="image-file"),
        pytest.param("[sample](manifests/samples/)", id="directory"),
        pytest.param("[kopf](https://kopf.readthedocs.io/en/stable/)", id="public-site"),
        pytest.param("`[x](../shared/docs/api.md)`", id="in-code-span"),
        pytest.param("```\n[x](../shared/docs/api.md)\n```", id="in-fence"),
    ],
)
def test_a_good_link_passes(markdown: str) -> None:
    """Links a reader can follow pass, and so does text in code that only looks like a link."""
    assert [problem(link) for link in links(REPO_ROOT / "README.md", markdown)] in ([], [None])


def test_anchors_follow_github() -> None:
    """Headings become GitHub's anchors: lower case, punctuation dropped, repeats numbered."""
    text = "# Deploying it\n## `make docs`\n## Notes (v1)\n## Notes (v1)\n"
    assert anchors(text) == {"deploying-it", "make-docs", "notes-v1", "notes-v1-1"}
