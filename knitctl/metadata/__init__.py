"""ML Metadata's API over knit's catalog.

Code written for ML Metadata ports by changing its imports:

    import knitctl.metadata as mlmd
    from knitctl.metadata import metadata_store, metadata_store_pb2

Like `ml_metadata`, the package exports `MetadataStore`, `ListOptions`,
`OrderByField`, `downgrade_schema` and the `errors` module; message types
live in `metadata_store_pb2` (pure Python, no protobuf needed).
`metadata_store.knit_catalog()` opens the knit catalog itself, where every
upload, run and plan is already an artifact, execution or context. A
`ConnectionConfig.sqlite` naming a store that ml-metadata itself wrote uses it
in place, in ml-metadata's own tables (`mlmd_file`); `transfer` copies such a
store into the catalog and exports the catalog to a new ml-metadata file.
"""

from . import errors, metadata_store, metadata_store_pb2, proto  # proto: `mlmd.proto.metadata_store_pb2`
from .metadata_store import ListOptions, MetadataStore, OrderByField, downgrade_schema, knit_catalog

__all__ = [
    "MetadataStore", "ListOptions", "OrderByField", "downgrade_schema", "knit_catalog", "errors",
    "metadata_store", "metadata_store_pb2", "proto",
]
