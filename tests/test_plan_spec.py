"""Plan files (docs/ARCHITECTURE.md#plan-files): strict parsing, every validation rule, normalisation, the identity hash."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from knitctl.errors import UsageError
from knitctl.plans.spec import SCRATCH_TEMPLATE, TEMPLATE, PlanError, Resources, load_plan, parse_plan

from conftest import plan_doc

SRC = "my-plan.yaml"
BASE = {"image": "busybox:1.36", "inputs": [{"path": "/in", "tags": ["a:b"]}]}


def parse(doc) -> object:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    return parse_plan(text, SRC)


def with_(**fields) -> dict:
    doc = {**BASE, **fields}
    return {k: v for k, v in doc.items() if v is not _DROP}


_DROP = object()


def error(doc) -> str:
    """The one-line message parsing `doc` fails with; it always starts with the file name."""
    with pytest.raises(UsageError) as info:
        parse(doc)
    msg = info.value.message
    assert msg.startswith(SRC + ": "), msg
    assert "\n" not in msg
    assert info.value.exit_code == 2
    return msg


# -- a valid plan ---------------------------------------------------------------------------


def test_minimal_plan_and_its_defaults():
    spec = parse(BASE)
    assert spec.image == "busybox:1.36"
    assert [(m.path, m.tags) for m in spec.inputs] == [("/in", ("a:b",))]
    assert spec.outputs == ()
    assert spec.log is None
    assert spec.active is True
    assert spec.resources == Resources()
    assert spec.entrypoint is None and spec.args == () and spec.env == ()
    assert spec.on_node == {} and spec.annotations == () and spec.timeout is None and spec.service_account is None


def test_full_plan_parses_every_field():
    spec = parse(
        """
        image: ghcr.io/org/trainer:2.1
        entrypoint: ["python", "/in/code/train.py"]
        args: ["--epochs", 3]
        env: {SEED: 42, MODE: fast}
        inputs:
          - path: /in/data
            tags: ["project:demo", "type:dataset"]
        outputs:
          - path: /out/model
            tags: ["type:model"]
        log:
          tags: ["type:log"]
        active: false
        resources: {cpu: 500m, memory: 1Gi, gpu: [0, 3]}
        on_node: {may: ["gpu=yes"], prefer: ["zone=a"], must: ["kubernetes.io/arch=amd64"]}
        service_account: trainer
        annotations: ["owner=me"]
        timeout: 1h30m
        """.replace("\n        ", "\n")
    )
    assert spec.entrypoint == ("python", "/in/code/train.py")
    assert spec.args == ("--epochs", "3")
    assert spec.env == (("MODE", "fast"), ("SEED", "42"))
    assert spec.outputs[0].tags == ("type:model",)
    assert spec.log == ("type:log",)
    assert spec.active is False
    assert spec.resources == Resources(cpu=0.5, memory=2**30, gpu=("0", "3"))
    assert spec.on_node == {"may": ("gpu=yes",), "prefer": ("zone=a",), "must": ("kubernetes.io/arch=amd64",)}
    assert spec.service_account == "trainer"
    assert spec.annotations == ("owner=me",)
    assert spec.timeout == 5400


def test_the_commented_template_is_a_valid_plan():
    spec = parse_plan(TEMPLATE, "template")
    assert {m.path for m in spec.inputs} == {"/in/data", "/in/code"}
    assert spec.log == ("project:demo", "type:log")


def test_the_scratch_template_is_valid_yaml_with_the_required_fields_to_fill():
    doc = yaml.safe_load(SCRATCH_TEMPLATE)
    assert set(doc) >= {"image", "inputs", "outputs"}
    # As printed it is a skeleton: the image is left for the user to fill in.
    assert "image" in error(SCRATCH_TEMPLATE)


def test_string_entrypoint_and_args_become_one_element_lists():
    spec = parse(with_(entrypoint="/bin/run", args="--fast"))
    assert spec.entrypoint == ("/bin/run",)
    assert spec.args == ("--fast",)


# -- normalisation --------------------------------------------------------------------------


def test_paths_are_normalised():
    spec = parse(with_(inputs=[{"path": "//in//data/./", "tags": ["a:b"]}], outputs=[{"path": "/out/", "tags": []}]))
    assert spec.inputs[0].path == "/in/data"
    assert spec.outputs[0].path == "/out"


def test_tags_are_trimmed_deduplicated_and_sorted():
    spec = parse(with_(inputs=[{"path": "/in", "tags": ["z:1", " a : b ", "a:b"]}]))
    assert spec.inputs[0].tags == ("a:b", "z:1")


def test_timestamp_pins_are_normalised_to_rfc3339_millis():
    spec = parse(with_(inputs=[{"path": "/in", "tags": ["knit#timestamp:2026-01-01T00:00:00Z"]}]))
    assert spec.inputs[0].tags == ("knit#timestamp:2026-01-01T00:00:00.000+00:00",)


def test_inputs_may_pin_a_knit_id():
    spec = parse(with_(inputs=[{"path": "/in", "tags": ["knit#id:0a1b2c3d4e5f", "a:b"]}]))
    assert spec.inputs[0].tags == ("a:b", "knit#id:0a1b2c3d4e5f")


@pytest.mark.parametrize(
    "memory, expected", [("512Mi", 512 * 2**20), ("2Gi", 2 * 2**30), ("1G", 10**9), ("1500k", 1_500_000), (1024, 1024)]
)
def test_memory_quantities(memory, expected):
    assert parse(with_(resources={"memory": memory})).resources.memory == expected


@pytest.mark.parametrize("cpu, expected", [(2, 2.0), (0.5, 0.5), ("250m", 0.25), ("1.5", 1.5)])
def test_cpu_quantities(cpu, expected):
    assert parse(with_(resources={"cpu": cpu})).resources.cpu == expected


@pytest.mark.parametrize("gpu, expected", [(2, 2), ("1", 1), ([0, 3], ("0", "3")), (["GPU-abc"], ("GPU-abc",))])
def test_gpu_counts_and_device_ids(gpu, expected):
    assert parse(with_(resources={"gpu": gpu})).resources.gpu == expected


def test_nvidia_gpu_is_an_alias_of_gpu():
    assert parse(with_(resources={"nvidia.com/gpu": 2})).resources == Resources(gpu=2)


@pytest.mark.parametrize("timeout, seconds", [("30m", 1800), ("2h", 7200), (45, 45), ("1h30m", 5400)])
def test_timeouts(timeout, seconds):
    assert parse(with_(timeout=timeout)).timeout == seconds


@pytest.mark.parametrize("image", ["busybox:1", "python:3.11-slim", "localhost:5000/team/img:v2", "ghcr.io/a/b:1.0",
                                   "busybox@sha256:" + "a" * 64, "busybox:1.36@sha256:" + "0" * 64, "registry:5000"])
def test_image_references_with_a_tag_or_digest(image):
    assert parse(with_(image=image)).image == image


# -- the identity hash ----------------------------------------------------------------------


FULL = plan_doc(
    {"/in/a": ["k:a", "x:1"], "/in/b": ["k:b"]}, {"/out/m": ["type:model"]}, log=["type:log"],
    entrypoint=["run"], args=["-v"], on_node={"must": ["a=b"]},
)


def test_equal_plans_hash_equal_whatever_the_order_of_inputs_and_tags():
    shuffled = dict(FULL)
    shuffled["inputs"] = [{"path": "/in/b", "tags": ["k:b"]}, {"path": "/in/a", "tags": ["x:1", "k:a"]}]
    assert parse(shuffled).hash == parse(FULL).hash


@pytest.mark.parametrize(
    "mutable",
    [{"active": False}, {"resources": {"cpu": 2}}, {"annotations": ["a=b"]}, {"service_account": "sa"}],
    ids=["active", "resources", "annotations", "service_account"],
)
def test_mutable_fields_are_not_part_of_the_hash(mutable):
    assert parse({**FULL, **mutable}).hash == parse(FULL).hash


@pytest.mark.parametrize(
    "change",
    [
        {"image": "busybox:1.37"},
        {"entrypoint": ["other"]},
        {"args": ["-q"]},
        {"inputs": [{"path": "/in/a", "tags": ["k:a"]}, {"path": "/in/b", "tags": ["k:b"]}]},
        {"inputs": [{"path": "/in/c", "tags": ["k:a", "x:1"]}, {"path": "/in/b", "tags": ["k:b"]}]},
        {"outputs": [{"path": "/out/m", "tags": ["type:other"]}]},
        {"outputs": [{"path": "/out/n", "tags": ["type:model"]}]},
        {"log": {"tags": ["type:otherlog"]}},
        {"log": None},
        {"on_node": {"may": ["a=b"]}},
    ],
    ids=["image", "entrypoint", "args", "input-tags", "input-path", "output-tags", "output-path", "log-tags", "no-log", "on_node"],
)
def test_identity_fields_change_the_hash(change):
    doc = {**FULL, **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    assert parse(doc).hash != parse(FULL).hash


def test_to_dict_round_trips():
    from knitctl.plans.spec import PlanSpec

    spec = parse({**FULL, "resources": {"memory": "1Gi", "gpu": [1]}, "annotations": ["o=p"], "active": False})
    assert PlanSpec.from_dict(spec.to_dict()) == spec


# -- errors: unknown keys at every level ---------------------------------------------------------


def test_logs_is_an_error_that_suggests_log():
    msg = error(with_(logs={"tags": ["type:log"]}))
    assert "logs" in msg and "did you mean `log`?" in msg


@pytest.mark.parametrize(
    "doc, where, suggestion",
    [
        (with_(imagee="x"), "imagee", "image"),
        (with_(input=[]), "input", "inputs"),
        (with_(inputs=[{"path": "/in", "tag": ["a:b"]}]), "inputs[0].tag", "tags"),
        (with_(inputs=[{"path": "/in", "tags": ["a:b"]}, {"pth": "/x", "tags": ["a:b"]}]), "inputs[1].pth", "path"),
        (with_(outputs=[{"path": "/out", "tgs": []}]), "outputs[0].tgs", "tags"),
        (with_(log={"tag": ["a:b"]}), "log.tag", "tags"),
        (with_(resources={"gpus": 1}), "resources.gpus", "gpu"),
        (with_(resources={"mem": "1Gi"}), "resources.mem", "memory"),
        (with_(resources={"zzz": 1}), "resources.zzz", None),
        (with_(on_node={"mst": ["a=b"]}), "on_node.mst", "must"),
    ],
)
def test_unknown_keys_are_named_with_their_field_path(doc, where, suggestion):
    msg = error(doc)
    assert f"{SRC}: {where}: unknown key" in msg
    if suggestion:
        assert f"did you mean `{suggestion}`?" in msg
    else:
        assert "valid keys are" in msg


# -- errors: image --------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", [{"inputs": BASE["inputs"]}, with_(image=""), with_(image=None)], ids=["missing", "empty", "null"])
def test_image_is_required(doc):
    assert "image: is required" in error(doc)


@pytest.mark.parametrize("image", ["busybox", "ghcr.io/org/img", "localhost:5000/img"])
def test_image_needs_a_tag_or_digest(image):
    msg = error(with_(image=image))
    assert "image:" in msg and "has no tag" in msg


@pytest.mark.parametrize("image", ["Busybox:1", "bad image:1", "img:", "img@sha256:xyz"])
def test_image_must_be_a_reference(image):
    assert "is not an image reference" in error(with_(image=image))


def test_image_must_be_a_string():
    assert "image: must be a string" in error(with_(image=12))


# -- errors: inputs and outputs --------------------------------------------------------------------


@pytest.mark.parametrize(
    "inputs, where, what",
    [
        (_DROP, "inputs", "is required"),
        ([], "inputs", "at least one input"),
        ("/in", "inputs", "must be a list"),
        (["/in"], "inputs[0]", "must be a mapping"),
        ([{"tags": ["a:b"]}], "inputs[0]", "missing `path`"),
        ([{"path": "/in"}], "inputs[0]", "missing `tags`"),
        ([{"path": "/in", "tags": []}], "inputs[0].tags", "at least one tag"),
        ([{"path": "/in", "tags": "a:b"}], "inputs[0].tags", "must be a list"),
        ([{"path": "/in", "tags": [1]}], "inputs[0].tags[0]", "must be a string"),
    ],
)
def test_inputs_need_a_path_and_at_least_one_tag(inputs, where, what):
    msg = error(with_(inputs=inputs))
    assert f"{SRC}: {where}: " in msg and what in msg


def test_a_bad_tag_is_named_by_its_index():
    msg = error(with_(inputs=[{"path": "/in", "tags": ["a:b", "novalue"]}]))
    assert f"{SRC}: inputs[0].tags[1]: 'novalue' is not a tag" in msg


def test_outputs_need_tags_but_they_may_be_empty():
    assert "outputs[0]: missing `tags`" in error(with_(outputs=[{"path": "/out"}]))
    assert parse(with_(outputs=[{"path": "/out", "tags": []}])).outputs[0].tags == ()


@pytest.mark.parametrize(
    "path, what",
    [("in/data", "is not an absolute path"), ("/in/../etc", "contains '..'"), ("/", "can't be a mount path"), (5, "must be a string")],
)
def test_paths_must_be_absolute_and_normalised(path, what):
    msg = error(with_(inputs=[{"path": path, "tags": ["a:b"]}]))
    assert "inputs[0].path: " in msg and what in msg


@pytest.mark.parametrize(
    "inputs, outputs, where, what",
    [
        ([("/in", "a:b"), ("/in/", "c:d")], [], "inputs[1].path", "is also inputs[0].path"),
        ([("/in", "a:b")], [("/in", None)], "outputs[0].path", "is also inputs[0].path"),
        ([("/in", "a:b")], [("/out", None), ("/out", None)], "outputs[1].path", "is also outputs[0].path"),
        ([("/in", "a:b")], [("/in/sub", None)], "outputs[0].path", "is inside inputs[0].path /in"),
        ([("/data/in", "a:b")], [("/data", None)], "inputs[0].path", "is inside outputs[0].path /data"),
        ([("/in", "a:b"), ("/in/x/y", "c:d")], [], "inputs[1].path", "is inside inputs[0].path"),
    ],
)
def test_no_path_may_equal_or_contain_another(inputs, outputs, where, what):
    doc = with_(
        inputs=[{"path": p, "tags": [t]} for p, t in inputs],
        outputs=[{"path": p, "tags": []} for p, _ in outputs],
    )
    msg = error(doc)
    assert f"{where}: " in msg and what in msg


def test_sibling_paths_sharing_a_prefix_do_not_nest():
    spec = parse(with_(inputs=[{"path": "/in", "tags": ["a:b"]}, {"path": "/input", "tags": ["c:d"]}], outputs=[{"path": "/in2", "tags": []}]))
    assert [m.path for m in spec.inputs] == ["/in", "/input"]


# -- errors: system tags ------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["knit#transient:processing", "knit#transient:failed", "knit#other:x"])
def test_inputs_may_pin_only_knit_id_or_timestamp(tag):
    msg = error(with_(inputs=[{"path": "/in", "tags": ["a:b", tag]}]))
    assert "inputs[0].tags[1]: " in msg and "inputs may pin only knit#id or knit#timestamp" in msg


def test_an_input_pins_at_most_one_id_and_one_timestamp():
    assert "pins more than one knit#id" in error(with_(inputs=[{"path": "/in", "tags": ["knit#id:aa", "knit#id:bb"]}]))
    two_ts = ["knit#timestamp:2026-01-01T00:00:00Z", "knit#timestamp:2026-01-02T00:00:00Z"]
    assert "pins more than one knit#timestamp" in error(with_(inputs=[{"path": "/in", "tags": two_ts}]))


def test_a_timestamp_pin_must_be_a_time():
    msg = error(with_(inputs=[{"path": "/in", "tags": ["knit#timestamp:yesterday"]}]))
    assert "inputs[0].tags[0]: " in msg and "RFC 3339" in msg


@pytest.mark.parametrize("tag", ["knit#id:abc", "knit#timestamp:2026-01-01T00:00:00Z", "knit#transient:failed"])
def test_outputs_and_log_carry_no_system_tags(tag):
    msg = error(with_(outputs=[{"path": "/out", "tags": ["type:model", tag]}]))
    assert "outputs[0].tags[1]: " in msg and "reserved prefix knit#" in msg
    msg = error(with_(log={"tags": [tag]}))
    assert "log.tags[0]: " in msg and "reserved prefix knit#" in msg


def test_log_must_be_a_mapping_and_its_tags_may_be_empty():
    assert "log: must be a mapping" in error(with_(log=["type:log"]))
    assert parse(with_(log={"tags": []})).log == ()
    assert parse(with_(log={})).log == ()


# -- errors: resources ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resources, where, what",
    [
        ("2 cores", "resources", "must be a mapping"),
        ({"cpu": 0}, "resources.cpu", "more than 0"),
        ({"cpu": "2x"}, "resources.cpu", "not a CPU quantity"),
        ({"cpu": True}, "resources.cpu", "number of cores"),
        ({"memory": "12X"}, "resources.memory", "not a memory quantity"),
        ({"memory": "0Mi"}, "resources.memory", "more than 0"),
        ({"memory": True}, "resources.memory", "not a memory quantity"),
        ({"gpu": 0}, "resources.gpu", "at least 1"),
        ({"gpu": [0, 0]}, "resources.gpu", "lists a device twice"),
        ({"gpu": [True]}, "resources.gpu[0]", "device index"),
        ({"gpu": "many"}, "resources.gpu", "a count"),
        ({"gpu": []}, "resources.gpu", "a count"),
        ({"nvidia.com/gpu": 0}, "resources.nvidia.com/gpu", "at least 1"),
        ({"gpu": 1, "nvidia.com/gpu": 1}, "resources", "both `gpu` and its alias"),
    ],
)
def test_resource_errors(resources, where, what):
    msg = error(with_(resources=resources))
    assert f"{SRC}: {where}: " in msg and what in msg


# -- errors: on_node, annotations, env, timeout, active --------------------------------------------------------


@pytest.mark.parametrize(
    "on_node, where, what",
    [
        (["a=b"], "on_node", "must be a mapping"),
        ({"must": "a=b"}, "on_node.must", "must be a list"),
        ({"must": ["a"]}, "on_node.must[0]", "is not key=value"),
        ({"prefer": ["=b"]}, "on_node.prefer[0]", "empty key"),
        ({"may": ["bad key=b"]}, "on_node.may[0]", "not a valid node label key"),
    ],
)
def test_on_node_takes_label_key_value_lists(on_node, where, what):
    msg = error(with_(on_node=on_node))
    assert f"{SRC}: {where}: " in msg and what in msg


@pytest.mark.parametrize(
    "annotations, where, what",
    [("a=b", "annotations", "must be a list"), (["owner"], "annotations[0]", "is not key=value"),
     (["ok=1", " =x"], "annotations[1]", "empty key"), ([3], "annotations[0]", "must be a string")],
)
def test_annotations_are_key_value(annotations, where, what):
    msg = error(with_(annotations=annotations))
    assert f"{SRC}: {where}: " in msg and what in msg


def test_annotations_are_trimmed_and_deduplicated():
    assert parse(with_(annotations=["b = 2", "a=1", "a=1"])).annotations == ("a=1", "b=2")


@pytest.mark.parametrize(
    "env, where, what",
    [
        (["A=1"], "env", "must be a mapping"),
        ({"1BAD": "x"}, "env.1BAD", "not a valid variable name"),
        ({"MY-VAR": "x"}, "env.MY-VAR", "not a valid variable name"),
        ({"KNIT_RUN_ID": "x"}, "env.KNIT_RUN_ID", "set by knit itself"),
        ({"FLAG": True}, "env.FLAG", "quote true/false"),
        ({"EMPTY": None}, "env.EMPTY", "must be a string or a number"),
        ({"LIST": [1]}, "env.LIST", "must be a string"),
    ],
)
def test_env_names_and_values(env, where, what):
    msg = error(with_(env=env))
    assert f"{SRC}: {where}: " in msg and what in msg


@pytest.mark.parametrize(
    "timeout, what", [(0, "longer than 0"), (-5, "longer than 0"), ("soon", "not a duration"), (True, "a duration like")]
)
def test_timeout_errors(timeout, what):
    msg = error(with_(timeout=timeout))
    assert f"{SRC}: timeout: " in msg and what in msg


@pytest.mark.parametrize("active", ["yes-please", 1, "no"])
def test_active_must_be_a_boolean(active):
    assert f"{SRC}: active: must be true or false" in error(with_(active=active))


def test_entrypoint_and_args_must_be_strings_or_lists():
    assert "entrypoint: must be a list" in error(with_(entrypoint={"a": 1}))
    assert "args[1]: must be a string" in error(with_(args=["ok", {"a": 1}]))
    assert "service_account: must be a string" in error(with_(service_account=["sa"]))


# -- errors: the document itself ---------------------------------------------------------------------------------


def test_bad_yaml_is_reported_with_a_line_number():
    text = "image: busybox:1\ninputs:\n  - path: /in\n    tags: [a:b\noutputs: []\n"
    msg = error(text)
    assert "line " in msg and "not valid YAML" in msg
    tab = "image: busybox:1\n\tinputs: x\n"
    assert f"{SRC}: line 2, column 1: not valid YAML" in error(tab)


@pytest.mark.parametrize("text, what", [("", "is empty"), ("# only a comment\n", "is empty"), ("- a\n- b\n", "must be a mapping"), ("just text", "must be a mapping")])
def test_the_document_must_be_a_mapping(text, what):
    assert what in error(text)


def test_load_plan_names_the_file_in_errors(tmp_path):
    p = tmp_path / "train.yaml"
    p.write_text(textwrap.dedent("""\
        image: busybox:1
        inputs:
          - path: /in
            tags: ["a:b"]
        logs: {tags: []}
    """))
    with pytest.raises(PlanError, match=rf"^{p}: logs: unknown key; did you mean `log`\?$"):
        load_plan(str(p))


def test_load_plan_of_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(UsageError, match="no such file; `knitctl plan template"):
        load_plan(str(tmp_path / "nope.yaml"))


def test_load_plan_of_a_directory_is_an_error(tmp_path):
    with pytest.raises(UsageError, match="is a directory, not a plan file"):
        load_plan(str(tmp_path))
