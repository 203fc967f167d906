"""The catalog schema as ordered forward migrations (SQL text, or a function taking the connection).

`PRAGMA user_version` holds how many migrations have been applied. A catalog
whose version is newer than this code knows is refused, never guessed at.

Tables come in two groups over one set of rows:
- ML Metadata's, exactly as ml-metadata 1.17.1 lays them out in SQLite (schema
  version 10: Type, Artifact, Execution, Context, their *Property tables, Event
  + EventPath, Attribution, Association, ParentContext, MLMDEnv; see
  mlmd_tables). knit's own data, runs and plans are rows here too, so ml-metadata
  and the MLMD API see them. Until migration 6 these were knit-shaped tables
  (type, artifact, ... with knit's column names); migration 6 moved their rows.
- knit's own (data, tag, plan, plan_input, plan_input_tag, plan_output_tag,
  run, run_history, ...), each pointing at its MLMD row.
"""

from collections.abc import Callable
from sqlite3 import Connection

from .mlmd_tables import adopt_mlmd_schema, restore_knit_tables

MIGRATIONS: list[str | Callable[[Connection], None]] = [
    # 1: the first schema
    """
    CREATE TABLE type (
        id INTEGER PRIMARY KEY,
        kind INTEGER NOT NULL,              -- 0 execution, 1 artifact, 2 context (MLMD's TypeKind)
        name TEXT NOT NULL,
        version TEXT,
        description TEXT,
        external_id TEXT UNIQUE,
        input_type TEXT,
        output_type TEXT,
        base_type INTEGER
    );
    CREATE UNIQUE INDEX type_kind_name ON type(kind, name, ifnull(version, ''));

    CREATE TABLE type_property (
        type_id INTEGER NOT NULL REFERENCES type(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        data_type INTEGER NOT NULL,
        PRIMARY KEY (type_id, name)
    ) WITHOUT ROWID;

    CREATE TABLE artifact (
        id INTEGER PRIMARY KEY,
        type_id INTEGER NOT NULL REFERENCES type(id),
        uri TEXT,
        state INTEGER,
        name TEXT,
        external_id TEXT UNIQUE,
        create_time_ms INTEGER NOT NULL,
        update_time_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX artifact_type_name ON artifact(type_id, name) WHERE name IS NOT NULL;
    CREATE INDEX artifact_uri ON artifact(uri);
    CREATE INDEX artifact_type_ct ON artifact(type_id, create_time_ms, id);

    CREATE TABLE execution (
        id INTEGER PRIMARY KEY,
        type_id INTEGER NOT NULL REFERENCES type(id),
        last_known_state INTEGER,
        name TEXT,
        external_id TEXT UNIQUE,
        create_time_ms INTEGER NOT NULL,
        update_time_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX execution_type_name ON execution(type_id, name) WHERE name IS NOT NULL;
    CREATE INDEX execution_type_ct ON execution(type_id, create_time_ms, id);

    CREATE TABLE context (
        id INTEGER PRIMARY KEY,
        type_id INTEGER NOT NULL REFERENCES type(id),
        name TEXT NOT NULL,
        external_id TEXT UNIQUE,
        create_time_ms INTEGER NOT NULL,
        update_time_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX context_type_name ON context(type_id, name);

    CREATE TABLE artifact_property (
        artifact_id INTEGER NOT NULL REFERENCES artifact(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        is_custom INTEGER NOT NULL,
        int_value INTEGER, double_value REAL, string_value TEXT,
        struct_value TEXT, proto_value BLOB, bool_value INTEGER,
        PRIMARY KEY (artifact_id, name, is_custom)
    ) WITHOUT ROWID;
    CREATE INDEX artifact_property_value ON artifact_property(name, is_custom, string_value, int_value);

    CREATE TABLE execution_property (
        execution_id INTEGER NOT NULL REFERENCES execution(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        is_custom INTEGER NOT NULL,
        int_value INTEGER, double_value REAL, string_value TEXT,
        struct_value TEXT, proto_value BLOB, bool_value INTEGER,
        PRIMARY KEY (execution_id, name, is_custom)
    ) WITHOUT ROWID;
    CREATE INDEX execution_property_value ON execution_property(name, is_custom, string_value, int_value);

    CREATE TABLE context_property (
        context_id INTEGER NOT NULL REFERENCES context(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        is_custom INTEGER NOT NULL,
        int_value INTEGER, double_value REAL, string_value TEXT,
        struct_value TEXT, proto_value BLOB, bool_value INTEGER,
        PRIMARY KEY (context_id, name, is_custom)
    ) WITHOUT ROWID;

    CREATE TABLE event (
        id INTEGER PRIMARY KEY,
        artifact_id INTEGER NOT NULL REFERENCES artifact(id) ON DELETE CASCADE,
        execution_id INTEGER NOT NULL REFERENCES execution(id) ON DELETE CASCADE,
        type INTEGER NOT NULL,               -- MLMD Event.Type
        milliseconds_since_epoch INTEGER
    );
    CREATE UNIQUE INDEX event_unique ON event(artifact_id, execution_id, type);
    CREATE INDEX event_execution ON event(execution_id, type, artifact_id);

    CREATE TABLE event_path (
        event_id INTEGER NOT NULL REFERENCES event(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        is_index_step INTEGER NOT NULL,
        step_index INTEGER,
        step_key TEXT,
        PRIMARY KEY (event_id, position)
    ) WITHOUT ROWID;

    CREATE TABLE attribution (
        id INTEGER PRIMARY KEY,
        context_id INTEGER NOT NULL REFERENCES context(id) ON DELETE CASCADE,
        artifact_id INTEGER NOT NULL REFERENCES artifact(id) ON DELETE CASCADE,
        UNIQUE (context_id, artifact_id)
    );
    CREATE INDEX attribution_artifact ON attribution(artifact_id, context_id);

    CREATE TABLE association (
        id INTEGER PRIMARY KEY,
        context_id INTEGER NOT NULL REFERENCES context(id) ON DELETE CASCADE,
        execution_id INTEGER NOT NULL REFERENCES execution(id) ON DELETE CASCADE,
        UNIQUE (context_id, execution_id)
    );
    CREATE INDEX association_execution ON association(execution_id, context_id);

    CREATE TABLE parent_context (
        context_id INTEGER NOT NULL REFERENCES context(id) ON DELETE CASCADE,
        parent_context_id INTEGER NOT NULL REFERENCES context(id) ON DELETE CASCADE,
        PRIMARY KEY (context_id, parent_context_id)
    ) WITHOUT ROWID;
    CREATE INDEX parent_context_parent ON parent_context(parent_context_id, context_id);

    CREATE TABLE parent_type (
        type_id INTEGER NOT NULL REFERENCES type(id) ON DELETE CASCADE,
        parent_type_id INTEGER NOT NULL REFERENCES type(id) ON DELETE CASCADE,
        PRIMARY KEY (type_id, parent_type_id)
    ) WITHOUT ROWID;

    -- knit's own ---------------------------------------------------------

    CREATE TABLE plan (
        plan_id TEXT PRIMARY KEY,
        context_id INTEGER NOT NULL UNIQUE REFERENCES context(id),
        hash TEXT UNIQUE,                    -- NULL for the pseudo-plan knit#uploaded
        image TEXT,
        spec TEXT NOT NULL,                  -- JSON of the validated plan
        active INTEGER NOT NULL DEFAULT 1,
        resources TEXT NOT NULL DEFAULT '{}',
        annotations TEXT NOT NULL DEFAULT '[]',
        service_account TEXT,
        created_ms INTEGER NOT NULL
    );

    CREATE TABLE plan_input (
        plan_id TEXT NOT NULL REFERENCES plan(plan_id),
        path TEXT NOT NULL,
        tag_count INTEGER NOT NULL,          -- user tags to match, pins excluded
        pin_id TEXT,                         -- knit#id pin
        pin_timestamp_ms INTEGER,            -- knit#timestamp pin
        PRIMARY KEY (plan_id, path)
    ) WITHOUT ROWID;

    CREATE TABLE plan_input_tag (
        plan_id TEXT NOT NULL,
        path TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (plan_id, path, key, value),
        FOREIGN KEY (plan_id, path) REFERENCES plan_input(plan_id, path)
    ) WITHOUT ROWID;
    CREATE INDEX plan_input_tag_kv ON plan_input_tag(key, value);

    CREATE TABLE plan_output (
        plan_id TEXT NOT NULL REFERENCES plan(plan_id),
        path TEXT NOT NULL,                  -- the mount path, or 'log' for the log output
        is_log INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (plan_id, path)
    ) WITHOUT ROWID;

    CREATE TABLE plan_output_tag (
        plan_id TEXT NOT NULL,
        path TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (plan_id, path, key, value),
        FOREIGN KEY (plan_id, path) REFERENCES plan_output(plan_id, path)
    ) WITHOUT ROWID;
    CREATE INDEX plan_output_tag_kv ON plan_output_tag(key, value);

    CREATE TABLE run (
        run_id TEXT PRIMARY KEY,
        execution_id INTEGER NOT NULL UNIQUE REFERENCES execution(id),
        plan_id TEXT NOT NULL REFERENCES plan(plan_id),
        status TEXT NOT NULL,
        assignment TEXT,                     -- canonical 'path=id' list; NULL for uploads
        context TEXT,
        exit_code INTEGER,
        message TEXT,
        request TEXT,                        -- 'stop' or 'abort' asked by the CLI, acted on by knitd
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        started_ms INTEGER,
        finished_ms INTEGER
    );
    CREATE UNIQUE INDEX run_plan_assignment ON run(plan_id, assignment) WHERE assignment IS NOT NULL;
    CREATE INDEX run_status ON run(status, created_ms);
    CREATE INDEX run_plan ON run(plan_id, status);
    CREATE INDEX run_created ON run(created_ms);

    CREATE TABLE run_history (
        run_id TEXT NOT NULL REFERENCES run(run_id) ON DELETE CASCADE,
        at_ms INTEGER NOT NULL,
        status TEXT NOT NULL,
        note TEXT
    );
    CREATE INDEX run_history_run ON run_history(run_id, at_ms);

    CREATE TABLE data (
        knit_id TEXT PRIMARY KEY,
        artifact_id INTEGER NOT NULL UNIQUE REFERENCES artifact(id),
        run_id TEXT NOT NULL REFERENCES run(run_id),
        output_path TEXT NOT NULL,           -- mount path in the producing run ('/upload' for pushes, 'log')
        digest TEXT,                         -- set when committed
        size INTEGER,
        file_count INTEGER,
        source TEXT                          -- where a push came from (a folder, a path)
    );
    CREATE INDEX data_run ON data(run_id);

    CREATE TABLE tag (
        knit_id TEXT NOT NULL REFERENCES data(knit_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (knit_id, key, value)
    ) WITHOUT ROWID;
    CREATE INDEX tag_kv ON tag(key, value, knit_id);
    """,
    # 2: the metadata API (knitctl.metadata): filters on context properties
    """
    CREATE INDEX context_property_value ON context_property(name, is_custom, string_value, int_value);
    """,
    # 3: the store this catalog belongs to (the same id is in KNIT_HOME/data/.store-id; knitctl.pairing)
    """
    CREATE TABLE store_pairing (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        store_id TEXT NOT NULL,
        paired_ms INTEGER NOT NULL
    );
    """,
    # 4: plans an older knit accepted with a timeout or cpu of .nan / .inf, which Python wrote into the JSON as
    # NaN / Infinity (not JSON: SQLite's json functions refused the row, so every push matching it failed):
    # the value becomes null, i.e. no timeout / no cpu limit, which is what it meant
    """
    UPDATE plan SET spec = replace(replace(replace(spec, '": NaN', '": null'), '": -Infinity', '": null'), '": Infinity', '": null')
        WHERE NOT json_valid(spec);
    UPDATE plan SET resources = replace(replace(replace(resources, '": NaN', '": null'), '": -Infinity', '": null'), '": Infinity', '": null')
        WHERE NOT json_valid(resources);
    """,
    # 5: lifecycle hooks (knitctl.hooks, daemon/hooks.py): every run status change is recorded in the move's own
    # transaction (hook_event); knitd turns each into one delivery per after hook that wants it (hook_delivery),
    # whose id stays the same across retries and restarts, and marks it delivered (or given up)
    """
    CREATE TABLE IF NOT EXISTS hook_event (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        old_status TEXT NOT NULL,
        new_status TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hook_delivery (
        delivery_id TEXT PRIMARY KEY,
        hook TEXT NOT NULL,
        run_id TEXT NOT NULL,
        old_status TEXT NOT NULL,
        new_status TEXT NOT NULL,
        payload TEXT NOT NULL,               -- the run document as it was at the change (no secrets)
        created_ms INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_ms INTEGER NOT NULL,
        delivered_ms INTEGER,
        given_up_ms INTEGER,
        last_error TEXT
    );
    CREATE INDEX IF NOT EXISTS hook_delivery_due ON hook_delivery(next_ms) WHERE delivered_ms IS NULL AND given_up_ms IS NULL;
    CREATE INDEX IF NOT EXISTS hook_delivery_run ON hook_delivery(run_id);
    """,
    # data marked bad (knitctl.marks): a person marks a root datum with a reason (bad_root); it and every datum
    # derived from it carry the mark (bad_data, the system tag knit#bad:<root>) and are not nominated unless a
    # plan input asks for them (plan_input.pin_bad: a root id, or '*' for any mark)
    """
    CREATE TABLE IF NOT EXISTS bad_root (
        root_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        marked_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS bad_data (
        knit_id TEXT NOT NULL,
        root_id TEXT NOT NULL REFERENCES bad_root(root_id) ON DELETE CASCADE,
        PRIMARY KEY (knit_id, root_id)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS bad_data_root ON bad_data(root_id);
    ALTER TABLE plan_input ADD COLUMN pin_bad TEXT;
    """,
    # reuse (knitctl.reuse): a plan with `cache` on (plan.cache, mutable) reuses a done run's outputs for a new run
    # whose inputs have the same content; run_cache keys runs by their inputs' digests (input_key) and names the
    # run a cached run's outputs came from (reused_run); `execute` makes a retried run execute for real
    """
    ALTER TABLE plan ADD COLUMN cache INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE IF NOT EXISTS run_cache (
        run_id TEXT PRIMARY KEY REFERENCES run(run_id) ON DELETE CASCADE,
        plan_id TEXT NOT NULL,
        input_key TEXT NOT NULL,             -- sha256 over the sorted 'path=digest' lines of its inputs
        reused_run TEXT,                     -- the done run whose outputs it reused (NULL: it executed)
        execute INTEGER NOT NULL DEFAULT 0   -- 1: retried, so it executes even when a cached result exists
    );
    CREATE INDEX IF NOT EXISTS run_cache_key ON run_cache(plan_id, input_key);
    """,
    # provenance (knitctl.provenance): who made each upload and run (user, host, knit's version), the exact image
    # a run ran (the image id and repo digest resolved when its container started, not only the tag), and for an
    # upload pushed from a git work tree the commit and whether the pushed files differed from it
    """
    CREATE TABLE IF NOT EXISTS provenance (
        run_id TEXT PRIMARY KEY REFERENCES run(run_id) ON DELETE CASCADE,
        user TEXT,
        host TEXT,
        knit_version TEXT,
        image TEXT,                          -- the plan's image as written (a tag: it may move)
        image_id TEXT,                       -- the image that ran (Docker's image id, a pod's imageID)
        repo_digest TEXT,                    -- name@sha256:... when the image came from a registry
        git_commit TEXT,                     -- uploads: HEAD of the work tree holding the pushed path
        git_dirty INTEGER,                   -- 1 when the pushed path had uncommitted or untracked changes
        recorded_ms INTEGER NOT NULL
    );
    """,
    # retention (knitctl.retention, `knitctl gc`): a datum whose bytes a rule freed keeps its metadata; data_drop
    # says so: 'dropping' (chosen in one transaction, its directory being deleted) then 'dropped' (gone), by which
    # rule, when and how many bytes. A gc killed half-way finishes the 'dropping' ones at the next gc
    """
    CREATE TABLE IF NOT EXISTS data_drop (
        knit_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,                 -- dropping | dropped
        rule TEXT NOT NULL,                  -- the rule that chose it, as `knitctl gc` prints it
        size INTEGER NOT NULL,               -- bytes freed
        started_ms INTEGER NOT NULL,
        dropped_ms INTEGER
    );
    """,
    # 10: the metadata tables become ml-metadata's own (schema version 10), rows and ids kept; knit's tags
    # also become custom properties of their artifacts (mlmd_tables.adopt_mlmd_schema)
    adopt_mlmd_schema,
]

LATEST = len(MIGRATIONS)

# version -> how to take a catalog from that version back to the one before (SQL text or a function, as
# MIGRATIONS); every version has one, so `downgrade_schema` serves an older knit as ml-metadata's does
DOWNGRADES: dict[int, str | Callable[[Connection], None]] = {
    2: "DROP INDEX IF EXISTS context_property_value;",
    3: "DROP TABLE IF EXISTS store_pairing;",
    4: "",  # a data repair (NaN/Infinity in plan JSON made null): nothing to undo, older knits read null
    5: "DROP TABLE IF EXISTS hook_delivery;\nDROP TABLE IF EXISTS hook_event;",  # hooks: pending deliveries go
}


def _number(marker) -> int:
    """The number of the migration holding `marker` (its text, or the function itself)."""
    return next(i + 1 for i, m in enumerate(MIGRATIONS) if m is marker or (isinstance(m, str) and isinstance(marker, str) and marker in m))


# Features appended their migrations in the order they landed; their downgrades are found by what they made.
DOWNGRADES.update({
    # marks: the marks go, and the plan inputs' pins to marked data
    _number("CREATE TABLE IF NOT EXISTS bad_root"):
        "DROP TABLE IF EXISTS bad_data;\nDROP TABLE IF EXISTS bad_root;\nALTER TABLE plan_input DROP COLUMN pin_bad;",
    # reuse: the plans' cache switch and the record of reused runs go
    _number("CREATE TABLE IF NOT EXISTS run_cache"): "DROP TABLE IF EXISTS run_cache;\nALTER TABLE plan DROP COLUMN cache;",
    # provenance: who made uploads and runs, the image ids, git commits go (the MLMD knit.* custom properties
    # stay: they are ordinary custom properties to any schema)
    _number("CREATE TABLE IF NOT EXISTS provenance"): "DROP TABLE IF EXISTS provenance;",
    # retention: the record of dropped data goes (their MLMD state stays DELETED, their directories stay gone)
    _number("CREATE TABLE IF NOT EXISTS data_drop"): "DROP TABLE IF EXISTS data_drop;",
    _number(adopt_mlmd_schema): restore_knit_tables,
})
