"""Plan files a careless or hostile user can give: endless or special files, deep or exploding YAML,
values out of range. Each is one clear UsageError (exit 2 from the CLI), and nothing is read first."""

from __future__ import annotations

import json
import os
import sqlite3
import threading

import pytest

from knitctl.errors import UsageError
from knitctl.plans.spec import MAX_PLAN_BYTES, load_plan, parse_plan

PLAN = """\
image: knit/busybox:latest
inputs:
  - path: /in
    tags: ["project:bounds"]
outputs:
  - path: /out
    tags: ["project:bounds-out"]
"""

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(9))


def test_dev_zero_is_refused_without_reading():
    with pytest.raises(UsageError, match="is a device, not a plan file"):
        load_plan("/dev/zero")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "plan.yaml"
    os.mkfifo(fifo)
    done = threading.Event()
    errors: list[BaseException] = []

    def load():
        try:
            load_plan(str(fifo))
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)
        done.set()

    threading.Thread(target=load, daemon=True).start()
    if not done.wait(10):
        with open(fifo, "w"):  # unblock the reader so the thread ends, then fail
            pass
        pytest.fail("load_plan blocked on a FIFO")
    assert isinstance(errors[0], UsageError) and "is a FIFO" in errors[0].message


def test_a_file_over_the_size_bound_is_refused(tmp_path):
    p = tmp_path / "plan.yaml"
    p.write_text(PLAN + "#" * MAX_PLAN_BYTES)
    with pytest.raises(UsageError, match="larger than a plan file can be"):
        load_plan(str(p))


@pytest.mark.parametrize("text, words", [
    ("image: " + "[" * 100_000 + "]" * 100_000, "nested more than"),
    ("{a: " * 100_000 + "1" + "}" * 100_000, "nested more than"),
    ("".join(" " * i + f"k{i}:\n" for i in range(3000)) + " " * 3000 + "x: 1\n", "nested more than"),
    (BOMB + "image: *j\n", "aliases"),
    (BOMB + PLAN.replace('tags: ["project:bounds"]', "tags: *j"), "aliases"),
])
def test_deep_or_exploding_yaml_is_refused(text, words):
    with pytest.raises(UsageError, match=words) as e:
        parse_plan(text, "p.yaml")
    assert e.value.message.startswith("p.yaml: ")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", "1e400", "99999999999999999999w", "9" * 400])
def test_timeout_must_be_finite_and_bounded(value):
    with pytest.raises(UsageError, match="timeout"):
        parse_plan(PLAN + f"timeout: {value}\n", "p.yaml")


def test_a_sane_timeout_is_kept():
    assert parse_plan(PLAN + "timeout: 2h\n", "p.yaml").timeout == 7200
    assert parse_plan(PLAN + "timeout: 90\n", "p.yaml").timeout == 90


@pytest.mark.parametrize("resources, words", [
    ("{cpu: .nan}", "cores"), ("{cpu: .inf}", "cores"), ("{cpu: 1e400}", "cores"),
    ("{memory: 99999999999999999999999999999999Gi}", "more than any machine"),
    ("{memory: " + "9" * 400 + "}", "more than any machine"),
    ("{gpu: 99999999999999999999}", "GPUs"), ("{gpu: '99999999999999999999'}", "count"),
])
def test_resources_out_of_range_are_refused(resources, words):
    with pytest.raises(UsageError, match=words):
        parse_plan(PLAN + f"resources: {resources}\n", "p.yaml")


def test_cli_refuses_dev_zero_and_a_fifo_and_an_infinite_timeout(cli, knit_home, tmp_path):
    r = cli("plan", "apply", "/dev/zero")
    assert r.code == 2 and "is a device" in r.err and "Traceback" not in r.err, r
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    r = cli("plan", "apply", fifo)
    assert r.code == 2 and "is a FIFO" in r.err, r
    p = tmp_path / "p.yaml"
    p.write_text(PLAN + "timeout: .inf\n")
    r = cli("plan", "apply", p)
    assert r.code == 2 and "timeout" in r.err, r
    assert cli("plan", "find", "--output", "json").json() == [] or all(
        pl.get("image") != "knit/busybox:latest" for pl in cli("plan", "find", "--output", "json").json())


def test_a_catalog_holding_an_infinite_timeout_is_repaired(cli, knit_home, tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(PLAN + "timeout: 2h\nresources: {cpu: 1}\n")
    r = cli("plan", "apply", p)
    assert r.code == 0, r
    from knitctl.metadata import downgrade_schema
    from knitctl.metadata import metadata_store_pb2 as pb

    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(knit_home / "catalog.db")
    downgrade_schema(config, 3)  # the schema before the repair (migration 4)
    con = sqlite3.connect(knit_home / "catalog.db")
    with con:  # what an older knit wrote for `timeout: .inf` and `cpu: .nan`
        con.execute("UPDATE plan SET spec = replace(replace(spec, '\"timeout\": 7200.0', '\"timeout\": Infinity'), '\"cpu\": 1.0', '\"cpu\": NaN'),"
                    " resources = replace(resources, '\"cpu\": 1.0', '\"cpu\": NaN') WHERE hash IS NOT NULL")
        assert con.execute("SELECT count(*) FROM plan WHERE NOT json_valid(spec) AND NOT json_valid(resources)").fetchone()[0] == 1
    con.close()
    d = tmp_path / "d"
    d.mkdir()
    (d / "a").write_text("x")
    r = cli("data", "push", d, "-t", "project:bounds")
    assert r.code == 0, r
    con = sqlite3.connect(knit_home / "catalog.db")
    spec, res = con.execute("SELECT spec, resources FROM plan WHERE hash IS NOT NULL").fetchone()
    con.close()
    assert json.loads(spec)["timeout"] is None and json.loads(spec)["resources"].get("cpu") is None
    assert json.loads(res).get("cpu") is None
    r = cli("run", "find", "--output", "json")
    assert r.code == 0 and len(r.json()) == 1, r


@pytest.mark.parametrize("line", ["image: " + "9" * 5000, "timeout: 2026-13-45", "env: {A: " + "9" * 5000 + "}"])
def test_values_yaml_itself_cannot_build_are_one_error(line):
    with pytest.raises(UsageError, match="p.yaml: "):
        parse_plan(PLAN + line + "\n", "p.yaml")


@pytest.mark.parametrize("value", ["9" * 400, "-" + "9" * 400])
def test_cpu_of_a_huge_integer_is_refused(value):
    with pytest.raises(UsageError, match="cores"):
        parse_plan(PLAN + f"resources: {{cpu: {value}}}\n", "p.yaml")


@pytest.mark.parametrize("line", ['annotations: ["a=\\e]0;x\\a"]', 'on_node: {may: ["k=\\e[2J"]}', 'service_account: "sa\\x9b"',
                                  'context: "c\\x07"'])
def test_names_and_labels_with_control_characters_are_refused(line):
    with pytest.raises(UsageError, match="control character") as e:
        parse_plan(PLAN + line + "\n", "p.yaml")
    assert "\x1b" not in e.value.message and "\x07" not in e.value.message
