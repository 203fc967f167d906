"""`from knitctl.metadata.proto import metadata_store_pb2`, as with `ml_metadata.proto`."""

from .. import metadata_store_pb2

__all__ = ["metadata_store_pb2"]
