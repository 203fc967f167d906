"""The seed's nine-step ML Metadata example (../shared/seeds/002_*.txt), with only its imports changed.

SEED_EXAMPLE is the seed's code as written there — its connection snippet and its nine
steps, prose headings left out — except that the three import lines name
`knitctl.metadata` instead of `ml_metadata`. It runs as a script; the test then checks
that its queries return what the seed says they do.
"""

from __future__ import annotations

import pytest

SEED_EXAMPLE = """\
import knitctl.metadata as mlmd
from knitctl.metadata import metadata_store
from knitctl.metadata import metadata_store_pb2

connection_config = metadata_store_pb2.ConnectionConfig()
connection_config.fake_database.SetInParent() # Sets an empty fake database proto.
store = metadata_store.MetadataStore(connection_config)

# Create ArtifactTypes, e.g., Data and Model
data_type = metadata_store_pb2.ArtifactType()
data_type.name = "DataSet"
data_type.properties["day"] = metadata_store_pb2.INT
data_type.properties["split"] = metadata_store_pb2.STRING
data_type_id = store.put_artifact_type(data_type)

model_type = metadata_store_pb2.ArtifactType()
model_type.name = "SavedModel"
model_type.properties["version"] = metadata_store_pb2.INT
model_type.properties["name"] = metadata_store_pb2.STRING
model_type_id = store.put_artifact_type(model_type)

# Query all registered Artifact types.
artifact_types = store.get_artifact_types()

# Create an ExecutionType, e.g., Trainer
trainer_type = metadata_store_pb2.ExecutionType()
trainer_type.name = "Trainer"
trainer_type.properties["state"] = metadata_store_pb2.STRING
trainer_type_id = store.put_execution_type(trainer_type)

# Query a registered Execution type with the returned id
[registered_type] = store.get_execution_types_by_id([trainer_type_id])

# Create an input artifact of type DataSet
data_artifact = metadata_store_pb2.Artifact()
data_artifact.uri = 'path/to/data'
data_artifact.properties["day"].int_value = 1
data_artifact.properties["split"].string_value = 'train'
data_artifact.type_id = data_type_id
[data_artifact_id] = store.put_artifacts([data_artifact])

# Query all registered Artifacts
artifacts = store.get_artifacts()

# Plus, there are many ways to query the same Artifact
[stored_data_artifact] = store.get_artifacts_by_id([data_artifact_id])
artifacts_with_uri = store.get_artifacts_by_uri(data_artifact.uri)

# Register the Execution of a Trainer run
trainer_run = metadata_store_pb2.Execution()
trainer_run.type_id = trainer_type_id
trainer_run.properties["state"].string_value = "RUNNING"
[run_id] = store.put_executions([trainer_run])

# Query all registered Execution
executions = store.get_executions_by_id([run_id])

# Define the input event
input_event = metadata_store_pb2.Event()
input_event.artifact_id = data_artifact_id
input_event.execution_id = run_id
input_event.type = metadata_store_pb2.Event.DECLARED_INPUT

# Record the input event in the metadata store
store.put_events([input_event])

# Declare the output artifact of type SavedModel
model_artifact = metadata_store_pb2.Artifact()
model_artifact.uri = 'path/to/model/file'
model_artifact.properties["version"].int_value = 1
model_artifact.properties["name"].string_value = 'MNIST-v1'
model_artifact.type_id = model_type_id
[model_artifact_id] = store.put_artifacts([model_artifact])

# Declare the output event
output_event = metadata_store_pb2.Event()
output_event.artifact_id = model_artifact_id
output_event.execution_id = run_id
output_event.type = metadata_store_pb2.Event.DECLARED_OUTPUT

# Submit output event to the Metadata Store
store.put_events([output_event])

trainer_run.id = run_id
trainer_run.properties["state"].string_value = "COMPLETED"
store.put_executions([trainer_run])

# Create a ContextType, e.g., Experiment with a note property
experiment_type = metadata_store_pb2.ContextType()
experiment_type.name = "Experiment"
experiment_type.properties["note"] = metadata_store_pb2.STRING
experiment_type_id = store.put_context_type(experiment_type)

# Group the model and the trainer run to an experiment.
my_experiment = metadata_store_pb2.Context()
my_experiment.type_id = experiment_type_id
# Give the experiment a name
my_experiment.name = "exp1"
my_experiment.properties["note"].string_value = "My first experiment."
[experiment_id] = store.put_contexts([my_experiment])

attribution = metadata_store_pb2.Attribution()
attribution.artifact_id = model_artifact_id
attribution.context_id = experiment_id

association = metadata_store_pb2.Association()
association.execution_id = run_id
association.context_id = experiment_id

store.put_attributions_and_associations([attribution], [association])

# Query the Artifacts and Executions that are linked to the Context.
experiment_artifacts = store.get_artifacts_by_context(experiment_id)
experiment_executions = store.get_executions_by_context(experiment_id)

"""

SQLITE_CONNECTION = """\
connection_config = metadata_store_pb2.ConnectionConfig()
connection_config.sqlite.filename_uri = '...'
connection_config.sqlite.connection_mode = 3 # READWRITE_OPENCREATE
store = metadata_store.MetadataStore(connection_config)
"""


def run_example(tmp_path, backend: str) -> dict:
    code = SEED_EXAMPLE
    if backend == "sqlite":  # the seed's SQLite snippet in place of its fake-database one, '...' made a real path
        fake = code[code.index("connection_config = "):code.index("# Create ArtifactTypes")]
        code = code.replace(fake, SQLITE_CONNECTION.replace("'...'", repr(str(tmp_path / "mlmd.db"))) + "\n")
    ns: dict = {}
    exec(compile(code, f"seed-example-{backend}", "exec"), ns)
    return ns


@pytest.mark.parametrize("backend", ["fake_database", "sqlite"])
def test_nine_step_example_runs_and_its_queries_return_what_the_seed_says(tmp_path, backend):
    ns = run_example(tmp_path, backend)
    pb = ns["metadata_store_pb2"]
    store = ns["store"]

    # 1) the artifact types are registered and listed
    assert [t.name for t in ns["artifact_types"]] == ["DataSet", "SavedModel"]
    data_type = ns["artifact_types"][0]
    assert dict(data_type.properties) == {"day": pb.INT, "split": pb.STRING}
    # 2) the execution type, read back by the returned id
    assert ns["registered_type"].name == "Trainer" and ns["registered_type"].id == ns["trainer_type_id"]
    assert dict(ns["registered_type"].properties) == {"state": pb.STRING}
    # 3) the DataSet artifact, found by listing, by id and by uri
    [listed] = ns["artifacts"]
    for a in (listed, ns["stored_data_artifact"], *ns["artifacts_with_uri"]):
        assert a.id == ns["data_artifact_id"] and a.uri == "path/to/data" and a.type == "DataSet"
        assert a.properties["day"].int_value == 1 and a.properties["split"].string_value == "train"
    assert len(ns["artifacts_with_uri"]) == 1
    # 4) the trainer run as it was first recorded
    [run] = ns["executions"]
    assert run.id == ns["run_id"] and run.properties["state"].string_value == "RUNNING"
    # 5-7) the input and output events
    events = store.get_events_by_execution_ids([ns["run_id"]])
    assert sorted((e.artifact_id, e.type) for e in events) == sorted([
        (ns["data_artifact_id"], pb.Event.DECLARED_INPUT), (ns["model_artifact_id"], pb.Event.DECLARED_OUTPUT)])
    # 8) the run is marked completed
    [run] = store.get_executions_by_id([ns["run_id"]])
    assert run.properties["state"].string_value == "COMPLETED"
    # 9) the context groups the model and the run
    [model] = ns["experiment_artifacts"]
    assert model.id == ns["model_artifact_id"] and model.uri == "path/to/model/file"
    assert model.properties["name"].string_value == "MNIST-v1" and model.properties["version"].int_value == 1
    [trainer] = ns["experiment_executions"]
    assert trainer.id == ns["run_id"] and trainer.properties["state"].string_value == "COMPLETED"
    [exp] = store.get_contexts_by_id([ns["experiment_id"]])
    assert exp.name == "exp1" and exp.properties["note"].string_value == "My first experiment."
    # and the lineage MLMD promises: the model traces back to the data it was trained on
    Q = pb.LineageSubgraphQueryOptions
    graph = store.get_lineage_subgraph(Q(
        starting_artifacts=Q.StartingNodes(filter_query=f"id = {ns['model_artifact_id']}"),
        max_num_hops=2, direction=Q.UPSTREAM))
    assert sorted(a.id for a in graph.artifacts) == sorted([ns["data_artifact_id"], ns["model_artifact_id"]])
    assert [e.id for e in graph.executions] == [ns["run_id"]]
    assert [c.name for c in graph.contexts] == ["exp1"]


def test_the_example_differs_from_the_seed_only_in_its_imports():
    from pathlib import Path

    seed = next((Path(__file__).resolve().parents[2] / "shared" / "seeds").glob("002_*.txt"), None)
    if seed is None:  # the seeds live beside the repository in the workspace, not in it
        seed_lines = None
    else:
        seed_lines = seed.read_text().splitlines()
    ours = [line for line in SEED_EXAMPLE.splitlines() if line.strip()]
    imports = [line for line in ours if "import" in line]
    assert imports == ["import knitctl.metadata as mlmd", "from knitctl.metadata import metadata_store",
                       "from knitctl.metadata import metadata_store_pb2"]
    if seed_lines is not None:
        code = [line for line in ours if "import" not in line]
        missing = [line for line in code if line not in seed_lines]
        assert missing == [], f"lines not in the seed: {missing}"
