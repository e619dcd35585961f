"""The embedded mode: emulators that let the real code run on one machine, offline."""

# The faults the embedded mode can inject (`local run --inject`): here, where the CLI reads them
# without importing moto.
FAULTS = (
    "stack-failure",
    "nodes-not-ready",
    "cni-digest",
    "delete-failed",
    "rollback-failed",
    "update-rollback",
    "pdb-blocks-eviction",
)
