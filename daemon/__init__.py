"""knitd: executes the runs the catalog holds."""
