"""The quickstart pushes its examples even when the installed package lies inside KNIT_HOME, as it
does after install.sh (its virtualenv is KNIT_HOME/venv) — a push from inside KNIT_HOME is refused."""

from __future__ import annotations

import pytest

from knitctl import data as data_api
from knitctl import quickstart
from knitctl.errors import KnitError


def test_an_example_inside_knit_home_is_pushed_through_a_copy(session):
    src = session.home.root / "venv" / "site-packages" / "knitctl" / "share" / "examples" / "iris"
    src.mkdir(parents=True)
    (src / "iris.csv").write_text("a,b\n1,2\n")
    with pytest.raises(KnitError, match="inside KNIT_HOME"):  # what the quickstart met before
        data_api.push(session, [src], ["project:quickstart"])
    d = quickstart.push_example(session, src, ["project:quickstart", "type:raw", "name:iris"])
    assert {"project:quickstart", "type:raw", "name:iris"} <= {str(t) for t in d.tags}
    stored = session.store.path_of(d.knit_id)
    assert (stored / "iris.csv").read_text() == "a,b\n1,2\n"
    assert (src / "iris.csv").exists()  # the package's copy stays
