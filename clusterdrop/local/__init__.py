"""The embedded mode: emulators that let the real code run on one machine, offline."""

# The faults the embedded mode can inject (`local run --inject`): here, where the CLI reads them
# without importing moto.
FAULTS: dict[str, str] = {
    "stack-failure": "the EKS cluster cannot be created (no capacity in a zone); the create rolls back",
    "nodes-not-ready": "nodes join but never turn Ready; the wait times out",
    "cni-digest": "the mirror's CNI manifest is tampered with; its sha256 is refused",
    "delete-failed": "the control-plane security group refuses deletion (a dependency); teardown stops",
    "rollback-failed": "stack-failure, and the rollback cannot delete that security group either",
    "update-rollback": "a node-group update cannot launch instances; the stack rolls back",
    "pdb-blocks-eviction": "a PodDisruptionBudget lets no pod go; an upgrade stops before touching nodes",
}
