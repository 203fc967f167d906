"""ml-metadata's physical schema (SQLite, version 10, as ml-metadata 1.17.1 creates it), which the catalog's
metadata tables are, and the migration that moved a catalog's older knit-shaped tables onto it.

So one file serves two libraries: ml-metadata opens `catalog.db` and sees knit's data, runs and plans as
artifacts, executions and contexts; knit reads and writes what ml-metadata put there. knit's own tables
(data, tag, plan, run, ...) sit beside these and point at their rows; knit's extra indexes on these
tables are prefixed `knit_` (ml-metadata neither needs nor sees them).
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 10
# ml-metadata's built-in types (created with every store) and the base_type value each stands for.
SYSTEM_TYPES = {
    "mlmd.Dataset": 1, "mlmd.Model": 2, "mlmd.Metrics": 3, "mlmd.Statistics": 4,
    "mlmd.Train": 1, "mlmd.Transform": 2, "mlmd.Process": 3, "mlmd.Evaluate": 4, "mlmd.Deploy": 5,
}
# type kind -> base_type value -> the built-in type a ParentType row links to
BASE_TYPE_NAMES = {1: {1: "mlmd.Dataset", 2: "mlmd.Model", 3: "mlmd.Metrics", 4: "mlmd.Statistics"},
                   0: {1: "mlmd.Train", 2: "mlmd.Transform", 3: "mlmd.Process", 4: "mlmd.Evaluate", 5: "mlmd.Deploy"}}


def _node_table(name: str, extra: str, name_null: str = "") -> str:
    return (f"CREATE TABLE {name} (id INTEGER PRIMARY KEY AUTOINCREMENT, type_id INT NOT NULL, {extra}"
            f"name VARCHAR(255){name_null}, external_id VARCHAR(255) UNIQUE, "
            f"create_time_since_epoch INT NOT NULL DEFAULT 0, last_update_time_since_epoch INT NOT NULL DEFAULT 0, "
            f"UNIQUE(type_id, name))")


def _prop_table(name: str, fk: str) -> str:
    return (f"CREATE TABLE {name} ({fk} INT NOT NULL, name VARCHAR(255) NOT NULL, is_custom_property TINYINT(1) NOT NULL, "
            f"int_value INT, double_value DOUBLE, string_value TEXT, byte_value BLOB, proto_value BLOB, "
            f"bool_value BOOLEAN, PRIMARY KEY ({fk}, name, is_custom_property))")


# ml-metadata's tables with their columns and keys, and the indexes its queries expect.
SCHEMA = [
    "CREATE TABLE Type (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(255) NOT NULL, version VARCHAR(255), "
    "type_kind TINYINT(1) NOT NULL, description TEXT, input_type TEXT, output_type TEXT, external_id VARCHAR(255) UNIQUE)",
    "CREATE TABLE TypeProperty (type_id INT NOT NULL, name VARCHAR(255) NOT NULL, data_type INT NULL, "
    "PRIMARY KEY (type_id, name))",
    "CREATE TABLE ParentType (type_id INT NOT NULL, parent_type_id INT NOT NULL, PRIMARY KEY (type_id, parent_type_id))",
    _node_table("Artifact", "uri TEXT, state INT, "),
    _prop_table("ArtifactProperty", "artifact_id"),
    _node_table("Execution", "last_known_state INT, "),
    _prop_table("ExecutionProperty", "execution_id"),
    "CREATE TABLE Event (id INTEGER PRIMARY KEY AUTOINCREMENT, artifact_id INT NOT NULL, execution_id INT NOT NULL, "
    "type INT NOT NULL, milliseconds_since_epoch INT, UNIQUE(artifact_id, execution_id, type))",
    "CREATE TABLE EventPath (event_id INT NOT NULL, is_index_step TINYINT(1) NOT NULL, step_index INT, step_key TEXT)",
    "CREATE TABLE MLMDEnv (schema_version INTEGER PRIMARY KEY)",
    _node_table("Context", "", " NOT NULL"),
    _prop_table("ContextProperty", "context_id"),
    "CREATE TABLE ParentContext (context_id INT NOT NULL, parent_context_id INT NOT NULL, "
    "PRIMARY KEY (context_id, parent_context_id))",
    "CREATE TABLE Association (id INTEGER PRIMARY KEY AUTOINCREMENT, context_id INT NOT NULL, execution_id INT NOT NULL, "
    "UNIQUE(context_id, execution_id))",
    "CREATE TABLE Attribution (id INTEGER PRIMARY KEY AUTOINCREMENT, context_id INT NOT NULL, artifact_id INT NOT NULL, "
    "UNIQUE(context_id, artifact_id))",
    "CREATE INDEX idx_artifact_uri ON Artifact(uri)",
    "CREATE INDEX idx_event_execution_id ON Event(execution_id)",
    "CREATE INDEX idx_parentcontext_parent_context_id ON ParentContext(parent_context_id)",
    "CREATE INDEX idx_type_name ON Type(name)",
    "CREATE INDEX idx_eventpath_event_id ON EventPath(event_id)",
    *(f"CREATE INDEX idx_{t.lower()}_{c} ON {t}({c})" for t in ("Artifact", "Execution", "Context")
      for c in ("create_time_since_epoch", "last_update_time_since_epoch", "external_id")),
    "CREATE INDEX idx_type_external_id ON Type(external_id)",
    *(f"CREATE INDEX idx_{k}_property_{v} ON {k.capitalize()}Property(name, is_custom_property, {v}_value) "
      f"WHERE {v}_value IS NOT NULL" for k in ("artifact", "execution", "context") for v in ("int", "double", "string")),
]

# knit's own indexes on ml-metadata's tables: listings by type in creation order, a run's events by
# kind (covering: lineage walks never read the table), the edges read from their other end. Property
# filters use ml-metadata's own partial indexes (name, is_custom_property, <kind>_value). Every index
# costs each write that touches its table, so there are no others.
KNIT_INDEXES = [
    "CREATE INDEX IF NOT EXISTS knit_artifact_type_ct ON Artifact(type_id, create_time_since_epoch, id)",
    "CREATE INDEX IF NOT EXISTS knit_execution_type_ct ON Execution(type_id, create_time_since_epoch, id)",
    "CREATE INDEX IF NOT EXISTS knit_context_type_ct ON Context(type_id, create_time_since_epoch, id)",
    "CREATE INDEX IF NOT EXISTS knit_event_execution ON Event(execution_id, type, artifact_id)",
    "CREATE INDEX IF NOT EXISTS knit_attribution_artifact ON Attribution(artifact_id, context_id)",
    "CREATE INDEX IF NOT EXISTS knit_association_execution ON Association(execution_id, context_id)",
]


def create_tables(conn: sqlite3.Connection) -> None:
    """ml-metadata's tables, its schema version and its built-in types, in the caller's transaction."""
    for statement in SCHEMA:
        conn.execute(statement)
    conn.execute("INSERT INTO MLMDEnv(schema_version) VALUES (?)", (SCHEMA_VERSION,))
    conn.executemany("INSERT INTO Type(name, type_kind) VALUES (?, ?)",
                     [(name, 1 if i < 4 else 0) for i, name in enumerate(SYSTEM_TYPES)])


# -- migration 6: knit's MLMD-shaped tables (schema 1-5) become ml-metadata's ---------------------------

_OLD = ("type", "type_property", "parent_type", "artifact", "execution", "context", "artifact_property",
        "execution_property", "context_property", "event", "event_path", "attribution", "association",
        "parent_context")


def _node_copy(table: str, extra: str) -> str:
    return (f"INSERT INTO {table.capitalize()}(id, type_id, {extra}name, external_id, create_time_since_epoch, "
            f"last_update_time_since_epoch) SELECT id, type_id, {extra}name, external_id, create_time_ms, update_time_ms "
            f"FROM knit_v5_{table}")


def _prop_copy(kind: str) -> str:
    return (f"INSERT INTO {kind.capitalize()}Property({kind}_id, name, is_custom_property, int_value, double_value, "
            f"string_value, proto_value, bool_value) SELECT {kind}_id, name, is_custom, int_value, double_value, "
            f"knit_mlmd_string(string_value, struct_value), knit_mlmd_proto_text(proto_value), bool_value "
            f"FROM knit_v5_{kind}_property")


def adopt_mlmd_schema(conn: sqlite3.Connection) -> None:
    """Move the rows of knit's MLMD-shaped tables onto ml-metadata's tables, ids kept, then drop the old ones.

    Runs inside the migration's transaction with foreign keys off and legacy_alter_table on (db.Catalog),
    so the old tables can be renamed aside (their names collide with ml-metadata's: SQLite's names
    ignore case) while knit's tables keep naming `artifact`, `execution`, `context` in their foreign keys,
    which then resolve to ml-metadata's tables.
    """
    from ..metadata.mlmd_file import stored_proto, stored_string  # ml-metadata's value encodings

    conn.create_function("knit_mlmd_string", 2, stored_string, deterministic=True)
    conn.create_function("knit_mlmd_proto_text", 1, stored_proto, deterministic=True)
    for table in _OLD:
        conn.execute(f"ALTER TABLE {table} RENAME TO knit_v5_{table}")
    create_tables(conn)
    # knit's types keep their ids (every row points at them); ml-metadata's built-in ones moved after them
    conn.execute("DELETE FROM Type")
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'Type'")
    conn.execute(
        "INSERT INTO Type(id, name, version, type_kind, description, input_type, output_type, external_id)"
        " SELECT id, name, version, kind, description, input_type, output_type, external_id FROM knit_v5_type")
    conn.executemany("INSERT INTO Type(name, type_kind) VALUES (?, ?)",
                     [(name, 1 if i < 4 else 0) for i, name in enumerate(SYSTEM_TYPES)])
    for kind, names in BASE_TYPE_NAMES.items():
        for value, name in names.items():
            conn.execute(
                "INSERT INTO ParentType(type_id, parent_type_id) SELECT t.id, s.id FROM knit_v5_type t"
                " JOIN Type s ON s.name = ? AND s.type_kind = ? WHERE t.kind = ? AND t.base_type = ?",
                (name, kind, kind, value))
    conn.execute("INSERT INTO TypeProperty(type_id, name, data_type) SELECT type_id, name, data_type FROM knit_v5_type_property")
    conn.execute("INSERT INTO ParentType(type_id, parent_type_id) SELECT type_id, parent_type_id FROM knit_v5_parent_type")
    conn.execute(_node_copy("artifact", "uri, state, "))
    conn.execute(_node_copy("execution", "last_known_state, "))
    conn.execute(_node_copy("context", ""))
    for node in ("artifact", "execution", "context"):
        conn.execute(_prop_copy(node))
    conn.execute("INSERT INTO Event(id, artifact_id, execution_id, type, milliseconds_since_epoch)"
                 " SELECT id, artifact_id, execution_id, type, milliseconds_since_epoch FROM knit_v5_event")
    # ml-metadata keeps a path's steps in the order of their rows
    conn.execute("INSERT INTO EventPath(event_id, is_index_step, step_index, step_key)"
                 " SELECT event_id, is_index_step, step_index, step_key FROM knit_v5_event_path ORDER BY event_id, position")
    for table in ("attribution", "association"):
        other = "artifact_id" if table == "attribution" else "execution_id"
        conn.execute(f"INSERT INTO {table.capitalize()}(id, context_id, {other}) SELECT id, context_id, {other} FROM knit_v5_{table}")
    conn.execute("INSERT INTO ParentContext(context_id, parent_context_id) SELECT context_id, parent_context_id FROM knit_v5_parent_context")
    for table in _OLD:
        conn.execute(f"DROP TABLE knit_v5_{table}")
    for statement in KNIT_INDEXES:
        conn.execute(statement)
    # knit's tags, as ml-metadata users see them: one custom property per key (several values: one per line)
    conn.execute(
        "INSERT OR IGNORE INTO ArtifactProperty(artifact_id, name, is_custom_property, string_value)"
        " SELECT d.artifact_id, t.key, 1, group_concat(t.value, char(10))"
        " FROM data d JOIN (SELECT * FROM tag ORDER BY knit_id, key, value) t ON t.knit_id = d.knit_id"
        " GROUP BY d.artifact_id, t.key")


# -- its downgrade: back to knit's own MLMD-shaped tables (schema 5), for an older knit ------------------

_MLMD = ("Type", "TypeProperty", "ParentType", "Artifact", "ArtifactProperty", "Execution", "ExecutionProperty",
         "Event", "EventPath", "MLMDEnv", "Context", "ContextProperty", "ParentContext", "Association", "Attribution")


def _old_tables_ddl() -> list[str]:
    """The statements of schemas 1 and 2 that made knit's MLMD-shaped tables and their indexes."""
    from .db import _statements
    from .schema import MIGRATIONS

    old = set(_OLD)
    out = []
    for script in MIGRATIONS[:2]:
        assert isinstance(script, str)
        for stmt in _statements(script):
            words = stmt.replace("(", " ( ").split()
            if words[:2] == ["CREATE", "TABLE"] and words[2] in old or words[0] == "CREATE" and "INDEX" in words[:3] and words[words.index("ON") + 1] in old:
                out.append(stmt)
    return out


def restore_knit_tables(conn: sqlite3.Connection) -> None:
    """The inverse of adopt_mlmd_schema: ml-metadata's rows back into knit's schema-5 tables, ids kept
    (ml-metadata's built-in types go; a type's link to one becomes its base_type; tags' properties go)."""
    from ..metadata.mlmd_file import plain_string, proto_bytes, struct_json

    conn.create_function("knit_mlmd_plain", 1, plain_string, deterministic=True)
    conn.create_function("knit_mlmd_struct", 1, struct_json, deterministic=True)
    conn.create_function("knit_mlmd_proto", 1, proto_bytes, deterministic=True)
    conn.execute("DELETE FROM ArtifactProperty WHERE is_custom_property = 1 AND EXISTS (SELECT 1 FROM data d JOIN tag t"
                 " ON t.knit_id = d.knit_id WHERE d.artifact_id = ArtifactProperty.artifact_id AND t.key = ArtifactProperty.name)")
    for table in _MLMD:
        conn.execute(f"ALTER TABLE {table} RENAME TO knit_v6_{table}")
    for statement in _old_tables_ddl():
        conn.execute(statement)
    system = ", ".join(f"'{n}'" for n in SYSTEM_TYPES)
    base = " ".join(f"WHEN '{n}' THEN {v}" for n, v in SYSTEM_TYPES.items())
    conn.execute(
        "INSERT INTO type(id, kind, name, version, description, external_id, input_type, output_type, base_type)"
        " SELECT t.id, t.type_kind, t.name, t.version, t.description, t.external_id, t.input_type, t.output_type,"
        f" (SELECT CASE p.name {base} END FROM knit_v6_ParentType pt JOIN knit_v6_Type p ON p.id = pt.parent_type_id"
        f"  WHERE pt.type_id = t.id AND p.name IN ({system}))"
        f" FROM knit_v6_Type t WHERE t.name NOT IN ({system})")
    conn.execute("INSERT INTO type_property SELECT type_id, name, data_type FROM knit_v6_TypeProperty")
    conn.execute("INSERT INTO parent_type SELECT pt.type_id, pt.parent_type_id FROM knit_v6_ParentType pt"
                 f" JOIN knit_v6_Type p ON p.id = pt.parent_type_id WHERE p.name NOT IN ({system})")
    for table, extra in (("artifact", "uri, state, "), ("execution", "last_known_state, "), ("context", "")):
        conn.execute(
            f"INSERT INTO {table}(id, type_id, {extra}name, external_id, create_time_ms, update_time_ms)"
            f" SELECT id, type_id, {extra}name, external_id, create_time_since_epoch, last_update_time_since_epoch"
            f" FROM knit_v6_{table.capitalize()}")
    for kind in ("artifact", "execution", "context"):
        conn.execute(
            f"INSERT INTO {kind}_property({kind}_id, name, is_custom, int_value, double_value, string_value, struct_value,"
            f" proto_value, bool_value) SELECT {kind}_id, name, is_custom_property, int_value, double_value,"
            f" knit_mlmd_plain(string_value), knit_mlmd_struct(string_value), knit_mlmd_proto(proto_value), bool_value"
            f" FROM knit_v6_{kind.capitalize()}Property")
    conn.execute("INSERT INTO event SELECT id, artifact_id, execution_id, type, milliseconds_since_epoch FROM knit_v6_Event")
    conn.execute(
        "INSERT INTO event_path(event_id, position, is_index_step, step_index, step_key) SELECT event_id,"
        " row_number() OVER (PARTITION BY event_id ORDER BY rowid) - 1, is_index_step, step_index, step_key"
        " FROM knit_v6_EventPath")
    conn.execute("INSERT INTO attribution SELECT id, context_id, artifact_id FROM knit_v6_Attribution")
    conn.execute("INSERT INTO association SELECT id, context_id, execution_id FROM knit_v6_Association")
    conn.execute("INSERT INTO parent_context SELECT context_id, parent_context_id FROM knit_v6_ParentContext")
    for table in _MLMD:
        conn.execute(f"DROP TABLE knit_v6_{table}")
