"""Code cites the protocol page by section (`docs/protocol.md#heading`); every cited section must exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = REPO_ROOT / "docs" / "protocol.md"
CITATION = re.compile(r"docs/protocol\.md#([a-z0-9-]+)((?: and #[a-z0-9-]+)*)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _citations() -> dict[str, set[str]]:
    cited: dict[str, set[str]] = {}
    for path in sorted([*REPO_ROOT.glob("packages/*/**/*"), *REPO_ROOT.glob("apps/*/**/*")]):
        if path.suffix not in {".py", ".yaml", ".md"} or not path.is_file():
            continue
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            anchors = [match.group(1), *re.findall(r"#([a-z0-9-]+)", match.group(2))]
            for anchor in anchors:
                cited.setdefault(anchor, set()).add(str(path.relative_to(REPO_ROOT)))
    return cited


def test_every_cited_protocol_section_exists() -> None:
    headings = [
        line.lstrip("#") for line in PROTOCOL.read_text(encoding="utf-8").splitlines() if line.startswith("#")
    ]
    anchors = {_anchor(h) for h in headings}
    cited = _citations()
    assert cited, "no docs/protocol.md citations found under packages/ or apps/"
    missing = {anchor: sorted(files) for anchor, files in cited.items() if anchor not in anchors}
    assert not missing, f"citations of sections docs/protocol.md does not have: {missing}"


def test_packages_cite_no_file_outside_the_repository() -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in sorted(REPO_ROOT.glob("packages/*/**/*"))
        if path.suffix in {".py", ".yaml"}
        and path.is_file()
        and "STUDY.md" in path.read_text(encoding="utf-8")
    ]
    assert not offenders, f"cite docs/protocol.md instead of STUDY.md in {offenders}"
