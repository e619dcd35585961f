"""`clusterdrop local kube-api`: one emulated cluster with no AWS behind it.

The same cluster the embedded EKS runs per EKS cluster (`eks/emulation.py`), without EKS: the API
server, the node simulator over one node group (nodes register NotReady and turn Ready once a
CNI's agent runs on them, as a kubelet reports), and the controllers (the workload controllers,
the scheduler binding pods by taints, tolerations and selectors or leaving them Pending with its
message, the kubelet, disruption budgets, the CNIs' operators). Its nodes have no EC2 instances.

Callers are admitted as EKS admits them (`eks/auth.py`): each principal has an access entry with
EKS's access policies, and a bearer token stands in for the signed STS request EKS reads the
principal from (there is no STS here). A token no principal holds gets 401; a principal whose
entry has no policy, or none that allows the request, gets 403 with the API server's message.

Unlike EKS's nodes, these have a pod CIDR each (a kube-controller-manager's
`--allocate-node-cidrs`, as kubeadm and kops clusters run it), so flannel works here as on such a
cluster.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
from collections.abc import Mapping
from typing import Any

from clusterdrop.local.eks import auth, nodes
from clusterdrop.local.eks.emulation import LOG, EmulatedCluster, Settings
from clusterdrop.local.kubeapi import tls
from clusterdrop.local.kubeapi.server import KubeApiServer

# EKS's access policies (EKS User Guide, "Review access policy permissions"), by the short names
# `--user NAME=POLICY` takes; "none" is an access entry with no policy associated.
POLICIES: dict[str, str | None] = {
    "cluster-admin": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
    "admin": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAdminPolicy",
    "edit": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
    "view": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
    "none": None,
}
# The node CIDRs kube-controller-manager allocates by default (`--cluster-cidr` kubeadm's docs
# use for flannel, /24 per node).
CLUSTER_CIDR = ipaddress.ip_network("10.244.0.0/16")


class StandaloneCluster:
    def __init__(
        self,
        *,
        port: int = 0,
        nodes_wanted: int = 2,
        version: str = "1.36",
        region: str = "eu-west-1",
        node_ready_delay: float = 1.0,
    ):
        self.tokens: dict[str, str] = {}  # bearer token → principal
        self.entries: dict[str, dict[str, Any]] = {}  # principal → its access entry, as EKS keeps it
        # HTTPS, as EKS serves it: kubectl sends no bearer token over plain HTTP (tls.py).
        api = KubeApiServer(
            port=port,
            version=version,
            authenticate=self._admitted,
            authorize=self._authorized,
            tls=tls.authority().server_context(),
        )
        zones = [f"{region}a", f"{region}b", f"{region}c"]
        self.cluster = EmulatedCluster(name="local", region=region, api=api, zones=zones, version=version)
        self.cluster.nodegroups["workers"] = {
            "version": version,
            "maxPods": 110,  # the kubelet's default
            "name": "workers",
            "desired": nodes_wanted,
            "instanceTypes": ["t3.medium"],
            "amiType": "AL2023_x86_64_STANDARD",
            "capacityType": "ON_DEMAND",
            "labels": {},
            "taints": [],
            "maxUnavailable": 1,
            "subnets": [],
            "launchTemplate": {},
        }  # no "account": no EC2 instances behind the nodes
        self.settings = Settings(node_ready_delay=node_ready_delay)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._simulate, name="standalone-simulator", daemon=True)

    @property
    def url(self) -> str:
        return self.cluster.api.url

    @property
    def store(self) -> Any:
        return self.cluster.api.store

    @property
    def ca_data(self) -> str:
        """The authority its certificate is signed by (base64 PEM, as a kubeconfig holds it)."""
        return tls.authority().ca_data

    def kubeconfig(self) -> dict[str, Any]:
        """A kubeconfig with a context per principal granted (admin's current), as kind writes one."""
        cluster = {"name": "local", "cluster": {"server": self.url, "certificate-authority-data": self.ca_data}}
        users = [{"name": principal, "user": {"token": token}} for token, principal in self.tokens.items()]
        contexts = [{"name": u["name"], "context": {"cluster": "local", "user": u["name"]}} for u in users]
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": users,
            "contexts": contexts,
            "current-context": contexts[0]["name"] if contexts else "",
        }

    def grant(self, principal: str, policy: str = "cluster-admin", namespaces: list[str] | None = None) -> str:
        """An access entry for the principal with one of EKS's access policies (cluster-wide, or in
        the namespaces given), and the bearer token that stands for it."""
        if policy not in POLICIES:
            raise ValueError(f"unknown access policy {policy!r} (one of {', '.join(POLICIES)})")
        arn = POLICIES[policy]
        scope = {"Type": "namespace", "Namespaces": namespaces} if namespaces else {"Type": "cluster"}
        self.entries[principal] = {
            "Username": principal,
            "AccessPolicies": [] if arn is None else [{"PolicyArn": arn, "AccessScope": scope}],
        }
        token = secrets.token_urlsafe(24)
        self.tokens[token] = principal
        return token

    def start(self) -> StandaloneCluster:
        self.cluster.api.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.cluster.api.stop()

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _admitted(self, authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise auth.Refused("no bearer token")
        principal = self.tokens.get(authorization.removeprefix("Bearer "))
        if principal is None:
            raise auth.Refused("the token is not one this cluster issued")
        return principal

    def _authorized(self, principal: str, verb: str, route: Any, namespaced: bool) -> str | None:
        entry: Mapping[str, Any] = self.entries[principal]
        return auth.authorized(entry, principal, verb, route, namespaced)

    def _simulate(self) -> None:
        while not self._stop.wait(0.1):
            try:
                nodes.tick(self.cluster, self.settings)
                self._allocate_pod_cidrs()
            except Exception:  # noqa: BLE001 - a tick that fails is logged; the next one runs (as the EKS one)
                LOG.exception("standalone cluster: a simulator tick failed")

    def _allocate_pod_cidrs(self) -> None:
        store = self.store
        with store.lock:
            nodes_now = store.objects[("", "nodes")]
            taken = {n["spec"].get("podCIDR") for n in nodes_now.values()}
            free = (str(c) for c in CLUSTER_CIDR.subnets(new_prefix=24) if str(c) not in taken)
            for node in nodes_now.values():
                if not node["spec"].get("podCIDR"):
                    node["spec"]["podCIDR"] = next(free)
                    node["spec"]["podCIDRs"] = [node["spec"]["podCIDR"]]
