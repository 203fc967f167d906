"""docs/ARCHITECTURE.md stays true: every path it names exists, every `file.py:name` it names is
defined there, and every anchor cited as ARCHITECTURE.md#... anywhere in the repository is one of its anchors."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "ARCHITECTURE.md"
TOPS = ("knitctl/", "daemon/", "tui/", "tests/", "benchmarks/", "packaging/", "scripts/", "docs/", ".ci/")
TOP_RE = "|".join(re.escape(t) for t in TOPS)
PATH_RE = re.compile(rf"`((?:{TOP_RE})[\w./<>-]*)(?::(\w+))?")
ANCHOR_RE = re.compile(r'<a id="([a-z0-9-]+)"></a>')
CITED_RE = re.compile(r"ARCHITECTURE\.md#([a-z0-9-]+)")


def test_every_path_and_name_in_the_doc_exists():
    text = DOC.read_text()
    missing = []
    named = PATH_RE.findall(text)
    assert len(named) > 50, "the doc names the modules it describes"
    for path, name in named:
        target = REPO / path.rstrip("/")
        if "<" in path or "*" in path:  # a pattern, not a path
            continue
        if not target.exists():
            missing.append(path)
        elif name and target.is_file() and not re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b|^{name}\s*[:=]",
                                                         target.read_text(), re.M):
            missing.append(f"{path}:{name}")
    assert not missing, f"docs/ARCHITECTURE.md names what does not exist: {missing}"


def test_every_cited_anchor_exists():
    anchors = set(ANCHOR_RE.findall(DOC.read_text()))
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    cited = {}
    for f in files:
        p = REPO / f
        if p.suffix not in {".py", ".md", ".sh", ".tcss", ".toml", ".ini"} or not p.is_file():
            continue
        for a in CITED_RE.findall(p.read_text(errors="replace")):
            cited.setdefault(a, f)
    unknown = {a: f for a, f in cited.items() if a not in anchors}
    assert not unknown, f"anchors cited but not in docs/ARCHITECTURE.md: {unknown}"
    assert {"layers", "catalog-bus", "write-path-push", "write-path-run", "rules", "testing"} <= anchors
