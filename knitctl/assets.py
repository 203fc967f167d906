"""Files knit reads at run time that are not Python: they ship inside the package, under
knitctl/share/ (the checkout's examples/ and packaging/{images,systemd,kubernetes,completions}
are links to them), so an installed knit finds them wherever it runs."""

from __future__ import annotations

from pathlib import Path

SHARE = Path(__file__).resolve().parent / "share"


def path(*parts: str) -> Path:
    """The shipped file or directory at share/<parts...> (whether it exists is the caller's to check)."""
    return SHARE.joinpath(*parts)
