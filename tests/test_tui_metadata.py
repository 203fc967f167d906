"""The TUI's Metadata mode: ML Metadata's types and nodes of the knit catalog (what an MLMD client wrote
there beside knit's data), and `knitctl tui --mlmd FILE` on an ml-metadata SQLite store."""

from __future__ import annotations

import hashlib
import sys

import pytest

from knitctl.metadata import metadata_store_pb2 as pb
from knitctl.metadata import mlmd_file
from knitctl.metadata.metadata_store import MetadataStore, knit_catalog

from conftest import cli_command, cli_env, push_datum
from tui_support import drive, make_app, screen_text, until


def write_tfx_like(store: MetadataStore, n_examples: int = 1) -> dict:
    """Types with properties, ExampleGen -> Trainer with event paths, a pipeline context; returns the ids."""
    examples_t = pb.ArtifactType(name="Examples", properties={"span": pb.INT, "split_names": pb.STRING})
    model_t = pb.ArtifactType(name="Model", properties={"framework": pb.STRING})
    trainer_t = pb.ExecutionType(name="Trainer", properties={"steps": pb.INT})
    pipeline_t = pb.ContextType(name="pipeline")
    ex_tid = store.put_artifact_type(examples_t)
    model_tid = store.put_artifact_type(model_t)
    trainer_tid = store.put_execution_type(trainer_t)
    pipe_tid = store.put_context_type(pipeline_t)

    examples = []
    for i in range(n_examples):
        a = pb.Artifact(type_id=ex_tid, uri=f"/pipelines/examples/{i}", name=f"examples-{i}", state=pb.Artifact.LIVE)
        a.properties["span"].int_value = i
        a.properties["split_names"].string_value = '["train","eval"]'
        examples.append(a)
    ex_ids = store.put_artifacts(examples)

    model = pb.Artifact(type_id=model_tid, uri="/pipelines/model/1", name="model-1", state=pb.Artifact.LIVE)
    model.properties["framework"].string_value = "tensorflow"
    model.custom_properties["hyper"].struct_value.update({"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam"}})
    model.custom_properties["accuracy"].double_value = 0.93
    [model_id] = store.put_artifacts([model])

    trainer = pb.Execution(type_id=trainer_tid, name="trainer-run-1", last_known_state=pb.Execution.COMPLETE)
    trainer.properties["steps"].int_value = 1000
    [trainer_id] = store.put_executions([trainer])

    ev_in = pb.Event(artifact_id=ex_ids[0], execution_id=trainer_id, type=pb.Event.INPUT)
    ev_in.path.steps.add().key = "examples"
    ev_in.path.steps.add().index = 0
    ev_out = pb.Event(artifact_id=model_id, execution_id=trainer_id, type=pb.Event.OUTPUT)
    ev_out.path.steps.add().key = "model"
    store.put_events([ev_in, ev_out])

    run_tid = store.put_context_type(pb.ContextType(name="pipeline_run"))
    [ctx_id] = store.put_contexts([pb.Context(type_id=pipe_tid, name="my-pipeline")])
    [run_ctx] = store.put_contexts([pb.Context(type_id=run_tid, name="my-pipeline.run-1")])
    store.put_parent_contexts([pb.ParentContext(child_id=run_ctx, parent_id=ctx_id)])
    store.put_attributions_and_associations(
        [pb.Attribution(artifact_id=model_id, context_id=ctx_id)],
        [pb.Association(execution_id=trainer_id, context_id=ctx_id)],
    )
    return {"examples": ex_ids, "model": model_id, "trainer": trainer_id, "context": ctx_id, "run_context": run_ctx}


@pytest.fixture
def catalog_world(session):
    """A knit catalog with two uploads (knit.Data artifacts) and an MLMD client's types, nodes and events."""
    data = [d.knit_id for d in push_datum(session, "project:x", n=2)]
    with knit_catalog(session.home.root) as store:
        ids = write_tfx_like(store)
    return session.home.root, data, ids


def mlmd_store(path) -> MetadataStore:
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE
    return MetadataStore(config)


def screen_name(app) -> str:
    return type(app.screen).__name__


async def open_metadata(pilot, app):
    await pilot.press("5")
    await until(pilot, lambda: screen_name(app) == "MetadataScreen" and app.screen.ready, what="metadata mode")
    await pilot.pause()
    return app.screen


async def pick_type(pilot, screen, kind: str, name: str):
    """Move the types' cursor to the type (as the arrow keys do) and wait for its nodes."""
    idx = next(i for i, t in enumerate(screen.types) if t.kind == kind and t.name == name)
    screen.type_table.move_cursor(row=idx)
    await until(pilot, lambda: screen.current is not None and screen.current.name == name, what=f"type {name}")
    await pilot.pause()


def node_ids(screen) -> list[int]:
    return [n.id for n in screen.nodes.values()]


# -- the knit catalog -----------------------------------------------------------------------------------


def test_metadata_mode_lists_types_marks_knits_and_lists_nodes(catalog_world):
    home, data, ids = catalog_world
    app = make_app(home)
    seen = {}

    async def scenario(pilot):
        screen = await open_metadata(pilot, app)
        await until(pilot, lambda: all(t.count is not None for t in screen.types), what="counts")
        seen["types"] = {(t.kind, t.name): (t.knit, t.count) for t in screen.types}
        seen["text"] = screen_text(app)
        await pick_type(pilot, screen, "artifact", "Examples")
        seen["examples"] = node_ids(screen)
        await pick_type(pilot, screen, "artifact", "Model")
        seen["model_text"] = screen_text(app)
        await pick_type(pilot, screen, "artifact", "knit.Data")
        seen["knit_names"] = sorted(n.name for n in screen.nodes.values())

    drive(app, scenario, size=(160, 32))
    types = seen["types"]
    assert types[("artifact", "Examples")] == (False, 1)
    assert types[("artifact", "Model")] == (False, 1)
    assert types[("execution", "Trainer")] == (False, 1)
    assert types[("context", "pipeline")] == (False, 1)
    assert types[("context", "pipeline_run")] == (False, 1)
    assert types[("artifact", "knit.Data")] == (True, 2)      # knit's own, marked, counted
    assert types[("execution", "knit.Run")][0] and types[("context", "knit.Plan")][0]
    assert "knit.Data  knit" in seen["text"] and "Examples" in seen["text"]
    assert seen["examples"] == ids["examples"]
    text = seen["model_text"]
    assert "model-1" in text and "/pipelines/model/1" in text and "LIVE" in text
    assert "framework=tensorflow" in text and "accuracy=0.93" in text          # properties condensed
    assert seen["knit_names"] == sorted(data)


def test_enter_opens_the_node_with_properties_events_and_contexts_and_jumps_to_a_neighbour(catalog_world):
    home, _data, ids = catalog_world
    app = make_app(home)
    seen = {}

    async def scenario(pilot):
        screen = await open_metadata(pilot, app)
        await pick_type(pilot, screen, "artifact", "Model")
        screen.node_table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "MetadataNodeScreen" and app.screen.ready, what="detail")
        await pilot.pause()
        detail = app.screen
        seen["title"] = detail.header_title()
        seen["text"] = screen_text(app)
        seen["links"] = [(k.relation, k.kind, k.id, k.detail) for k in detail.detail.links]
        # jump to the execution that wrote the model: its inputs and outputs with their event paths
        row = next(i for i, k in enumerate(detail.detail.links) if k.kind == "execution")
        detail.links_table.move_cursor(row=row)
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "MetadataNodeScreen" and app.screen is not detail
                    and app.screen.ready, what="neighbour")
        await pilot.pause()
        seen["exec_links"] = [(k.relation, k.kind, k.id, k.detail) for k in app.screen.detail.links]
        seen["exec_text"] = screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is detail, what="back")

    drive(app, scenario, size=(140, 48))
    assert seen["title"] == f"Metadata · artifact {ids['model']}"
    text = seen["text"]
    assert "tensorflow" in text and "0.93" in text
    assert '"lr": 0.01' in text and '"name": "adam"' in text      # the struct, as indented JSON
    assert "\\x0a" not in text and '"opt": {' in text
    assert "framework:STRING" in text                               # the type's declared properties
    assert ("OUTPUT of", "execution", ids["trainer"], "model") in seen["links"]
    assert ("context", "context", ids["context"], "") in seen["links"]
    assert ("INPUT", "artifact", ids["examples"][0], "examples/[0]") in seen["exec_links"]
    assert ("OUTPUT", "artifact", ids["model"], "model") in seen["exec_links"]
    assert "COMPLETE" in seen["exec_text"] and "steps" in seen["exec_text"]


def test_enter_on_a_knit_datum_opens_knits_datum_screen(catalog_world):
    home, data, _ids = catalog_world
    app = make_app(home)
    seen = {}

    async def scenario(pilot):
        screen = await open_metadata(pilot, app)
        await pick_type(pilot, screen, "artifact", "knit.Data")
        screen.node_table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "DatumDetailScreen", what="datum screen")
        seen["datum"] = app.screen.knit_id
        await pilot.press("escape")
        await until(pilot, lambda: screen_name(app) == "MetadataScreen", what="back")
        await pilot.press("m")        # its metadata instead
        await until(pilot, lambda: screen_name(app) == "MetadataNodeScreen" and app.screen.ready, what="detail")
        seen["meta_type"] = app.screen.detail.node.type

    drive(app, scenario, size=(140, 40))
    assert seen["datum"] == data[-1]        # newest first
    assert seen["meta_type"] == "knit.Data"


def test_a_context_shows_its_parent_children_artifacts_and_executions(catalog_world):
    home, _data, ids = catalog_world
    app = make_app(home)
    seen = {}

    async def scenario(pilot):
        screen = await open_metadata(pilot, app)
        await pick_type(pilot, screen, "context", "pipeline")
        screen.node_table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "MetadataNodeScreen" and app.screen.ready, what="detail")
        seen["links"] = [(k.relation, k.kind, k.id) for k in app.screen.detail.links]
        row = next(i for i, k in enumerate(app.screen.detail.links) if k.relation == "child context")
        app.screen.links_table.move_cursor(row=row)
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "MetadataNodeScreen" and app.screen.ready
                    and app.screen.node_id == ids["run_context"], what="child")
        seen["child_links"] = [(k.relation, k.kind, k.id) for k in app.screen.detail.links]

    drive(app, scenario, size=(140, 40))
    assert sorted(seen["links"]) == sorted([("child context", "context", ids["run_context"]),
                                            ("attributed", "artifact", ids["model"]),
                                            ("associated", "execution", ids["trainer"])])
    assert seen["child_links"] == [("parent context", "context", ids["context"])]


def test_enter_on_a_knit_run_opens_knits_run_screen(catalog_world):
    home, _data, _ids = catalog_world
    app = make_app(home)
    seen = {}

    async def scenario(pilot):
        screen = await open_metadata(pilot, app)
        await pick_type(pilot, screen, "execution", "knit.Run")
        seen["name"] = screen.current_node.name
        screen.node_table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "RunDetailScreen", what="run screen")
        seen["run"] = app.screen.run_id

    drive(app, scenario, size=(140, 40))
    assert seen["run"] == seen["name"]


def test_nodes_are_read_a_page_at_a_time(session, monkeypatch):
    from tui import metadata_view

    monkeypatch.setattr(metadata_view, "COUNT_CAP", 200)    # counted up to 200: "200+", and listed by name
    with knit_catalog(session.home.root) as store:
        tid = store.put_artifact_type(pb.ArtifactType(name="Shard"))
        store.put_artifacts([pb.Artifact(type_id=tid, uri=f"/s/{i}") for i in range(350)])
        # another version of the type, newest: a listing by name must leave its nodes out (its first page
        # holds none of the listed version's: it reads on)
        v2 = store.put_artifact_type(pb.ArtifactType(name="Shard", version="2"))
        v2_ids = store.put_artifacts([pb.Artifact(type_id=v2, uri=f"/v2/{i}") for i in range(150)])
    app = make_app(session.home.root)
    seen = {}

    async def scenario(pilot):
        screen = await open_metadata(pilot, app)
        await pick_type(pilot, screen, "artifact", "Shard")
        await until(pilot, lambda: screen.current.count is not None, what="count")
        await pilot.pause()
        seen["first"] = (len(screen.nodes), screen.pages_loaded)
        seen["status"] = screen_text(app).splitlines()[1]
        screen.node_table.focus()
        await pilot.press("end")
        await until(pilot, lambda: screen.pages_loaded >= 2, what="next page")
        for _ in range(3):
            await pilot.press("end")
            await pilot.pause()
        await until(pilot, lambda: screen.exhausted, what="all pages")
        seen["all"] = node_ids(screen)
        seen["by_name"] = screen.by_name
        idx = next(i for i, t in enumerate(screen.types) if t.name == "Shard" and t.version == "2")
        screen.type_table.move_cursor(row=idx)
        await until(pilot, lambda: screen.current.version == "2" and screen.nodes, what="version 2")
        screen.node_table.focus()
        await pilot.press("end")
        await until(pilot, lambda: screen.exhausted, what="version 2's pages")
        seen["v2"] = node_ids(screen)

    drive(app, scenario)
    loaded, pages = seen["first"]
    assert 0 < loaded < 350 and pages <= 3        # a page or two, not the whole type
    assert f"{loaded} loaded of 200+" in seen["status"]
    assert len(seen["all"]) == 350 and seen["all"] == sorted(seen["all"], reverse=True)   # newest first, no repeats
    assert seen["by_name"] and not set(seen["all"]) & set(v2_ids)
    assert sorted(seen["v2"]) == sorted(v2_ids)


def test_the_mode_follows_what_a_client_writes(catalog_world):
    home, _data, _ids = catalog_world
    app = make_app(home, poll_interval=0.02)
    seen = {}

    async def scenario(pilot):
        screen = await open_metadata(pilot, app)
        await pick_type(pilot, screen, "artifact", "Examples")
        with knit_catalog(home) as store:
            tid = store.get_artifact_type("Examples").id
            [new] = store.put_artifacts([pb.Artifact(type_id=tid, uri="/late", name="late")])
            store.put_artifact_type(pb.ArtifactType(name="Later"))
        await until(pilot, lambda: new in node_ids(screen), what="new node listed")
        await until(pilot, lambda: any(t.name == "Later" for t in screen.types), what="new type listed")
        await until(pilot, lambda: screen.current.count == 2, what="the selected type counted again")
        def later():
            return next(t for t in screen.types if t.name == "Later")

        await until(pilot, lambda: later().count is not None, what="the new type counted")
        seen["later"] = later().count
        seen["status"] = screen_text(app).splitlines()[1]

    drive(app, scenario)
    assert seen["later"] == 0
    assert "2 loaded of 2" in seen["status"]


def test_help_lists_the_metadata_key_and_the_screen_explains_itself(catalog_world):
    home, _data, _ids = catalog_world
    app = make_app(home)
    seen = {}

    async def scenario(pilot):
        await pilot.press("question_mark")
        await until(pilot, lambda: screen_name(app) == "HelpScreen", what="help")
        await pilot.pause()
        seen["runs_help"] = screen_text(app)
        await pilot.press("escape")
        await open_metadata(pilot, app)
        await pilot.press("question_mark")
        await until(pilot, lambda: screen_name(app) == "HelpScreen", what="help")
        await pilot.pause()
        seen["help"] = screen_text(app)

    drive(app, scenario, size=(120, 70))
    assert "1 2 3 4 5" in seen["runs_help"] and "Pipeline, Metadata" in seen["runs_help"]
    assert "Metadata — keys" in seen["help"] and "ML Metadata's view of the store" in seen["help"]
    assert "Metadata detail" in seen["help"] and "Reload" in seen["help"]


def test_the_tui_starts_without_the_metadata_package():
    import subprocess

    code = ("import sys, tui.app; bad = [m for m in sys.modules if m.startswith(('knitctl.metadata', "
            "'tui.screens.metadata', 'tui.metadata_view'))]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


# -- an ml-metadata file ------------------------------------------------------------------------------


@pytest.fixture
def mlmd_path(tmp_path):
    path = tmp_path / "mlmd.sqlite"
    mlmd_file.create(str(path))
    with mlmd_store(path) as store:
        ids = write_tfx_like(store, n_examples=3)
    return path, ids


def test_mlmd_file_shows_only_the_metadata_mode_read_only(mlmd_path, tmp_path, monkeypatch):
    path, ids = mlmd_path
    monkeypatch.setenv("KNIT_HOME", str(tmp_path / "no-knit-here"))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    from tui.app import MlmdApp

    app = MlmdApp(path, clock=lambda: 0)
    seen = {}

    async def scenario(pilot):
        await until(pilot, lambda: screen_name(app) == "MetadataScreen" and app.screen.ready, what="metadata")
        await pilot.pause()
        screen = app.screen
        seen["header"] = screen_text(app).splitlines()[0]
        seen["types"] = {(t.kind, t.name) for t in screen.types}
        await pick_type(pilot, screen, "artifact", "Examples")
        seen["examples"] = node_ids(screen)
        await pilot.press("1")        # knit's modes need a knit catalog: it stays here
        await pilot.pause()
        seen["after_1"] = screen_name(app)
        await pick_type(pilot, screen, "execution", "Trainer")
        screen.node_table.focus()
        await pilot.press("enter")
        await until(pilot, lambda: screen_name(app) == "MetadataNodeScreen" and app.screen.ready, what="detail")
        seen["links"] = [(k.relation, k.kind, k.id, k.detail) for k in app.screen.detail.links]

    drive(app, scenario, size=(160, 32))
    assert str(path) in seen["header"] and "read-only" in seen["header"]
    assert {("artifact", "Examples"), ("artifact", "Model"), ("execution", "Trainer"),
            ("context", "pipeline")} <= seen["types"]
    assert seen["examples"] == sorted(ids["examples"], reverse=True)
    assert seen["after_1"] == "MetadataScreen"
    assert ("INPUT", "artifact", ids["examples"][0], "examples/[0]") in seen["links"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before          # nothing written
    assert not (tmp_path / "no-knit-here").exists()                         # no knit catalog made


@pytest.mark.parametrize("case", ["missing", "text", "directory", "empty", "foreign"])
def test_tui_mlmd_bad_path_is_one_error_line(case, tmp_path):
    import sqlite3
    import subprocess

    target = {"missing": tmp_path / "nope.sqlite", "text": tmp_path / "notes.txt", "directory": tmp_path,
              "empty": tmp_path / "empty.sqlite", "foreign": tmp_path / "other.sqlite"}[case]
    if case == "text":
        target.write_text("not a database\n")
    elif case == "empty":
        target.touch()
    elif case == "foreign":          # an SQLite file of something else
        with sqlite3.connect(target) as conn:
            conn.execute("CREATE TABLE notes(x)")
        conn.close()
    before = target.read_bytes() if target.is_file() else None
    home = tmp_path / "home"
    r = subprocess.run(cli_command(["tui", "--mlmd", str(target)]), env=cli_env(home), capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("knitctl: error:") and str(target) in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not home.exists()
    if before is not None:
        assert target.read_bytes() == before                  # nothing written
        assert {p.name for p in tmp_path.iterdir()} == {target.name}   # no -wal, -shm or journal beside it


def test_python_m_tui_mlmd_bad_path_is_one_error_line(tmp_path):
    import subprocess

    r = subprocess.run([sys.executable, "-m", "tui", "--mlmd", str(tmp_path / "nope.sqlite")], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL, env=cli_env(tmp_path / "home"))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"python -m tui: error: no file at {tmp_path / 'nope.sqlite'}; "
                                             "give the path of an ml-metadata SQLite file"]


def test_a_node_with_many_events_lists_the_first_and_says_how_many_more(session, monkeypatch):
    from tui import metadata_view

    monkeypatch.setattr(metadata_view, "NEIGHBOURS_CAP", 5)
    with knit_catalog(session.home.root) as store:
        at = store.put_artifact_type(pb.ArtifactType(name="Table"))
        et = store.put_execution_type(pb.ExecutionType(name="Reader"))
        [table] = store.put_artifacts([pb.Artifact(type_id=at, uri="/t")])
        readers = store.put_executions([pb.Execution(type_id=et) for _ in range(8)])
        store.put_events([pb.Event(artifact_id=table, execution_id=r, type=pb.Event.INPUT) for r in readers])
    app = make_app(session.home.root)
    seen = {}

    async def scenario(pilot):
        from tui.screens.metadata import MetadataNodeScreen

        app.push_screen(MetadataNodeScreen("artifact", table))
        await until(pilot, lambda: screen_name(app) == "MetadataNodeScreen" and app.screen.ready, what="detail")
        await pilot.pause()
        seen["links"] = [k.id for k in app.screen.detail.links]
        seen["text"] = screen_text(app)

    drive(app, scenario, size=(120, 40))
    assert seen["links"] == readers[:5]
    assert "+3 more not listed" in seen["text"]
