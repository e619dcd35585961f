"""`make bench`: every benchmark, one table each."""

from benchmarks import embedded, kube, spec

print("== spec and plan")
spec.main()
print("\n== in-cluster operations (emulated Kubernetes API)")
kube.main()
print("\n== the embedded mode (one create each, simulated delays zero)")
embedded.main()
