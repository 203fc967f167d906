"""The `knitctl` command line: one module per command group."""
