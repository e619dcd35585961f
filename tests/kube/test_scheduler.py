"""The emulator's scheduler and controllers, driven over HTTP with the official client: nodes,
workloads and webhooks are written as a user would write them, one controller pass runs (what
the embedded EKS's node simulator does on every tick), and the result is read back over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from clusterdrop.kube import readiness
from clusterdrop.kube.client import Kube
from clusterdrop.kube.validate_cluster import validate_cluster
from clusterdrop.local.kubeapi import KubeApiServer
from clusterdrop.local.kubeapi.workloads import Reconciler, admission

Obj = dict[str, Any]
READY = {"type": "Ready", "status": "True", "reason": "KubeletReady"}
NOT_READY = {"type": "Ready", "status": "False", "reason": "KubeletNotReady"}
DB_TAINT = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
NOT_READY_TAINTS = [
    {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
]
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}
PREEMPTION = "preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


def _node(
    core: Any, name: str, *, taints: list[Obj] | None = None, ready: bool = True, labels: dict[str, str] | None = None
) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/os": "linux", **(labels or {})}},
        "spec": {"taints": list(taints or []) + ([] if ready else NOT_READY_TAINTS)},
        "status": {
            "conditions": [READY if ready else NOT_READY],
            "addresses": [{"type": "InternalIP", "address": f"10.0.0.{len(name) + ord(name[-1]) % 200}"}],
        },
    }
    core.create_node(body)


def _workload(kind: str, name: str, pod: Obj, namespace: str, **spec: Any) -> Obj:
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name}], **pod}}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {**spec, "selector": {"matchLabels": labels}, "template": template},
    }


def _deployment(apps: Any, name: str, pod: Obj, *, replicas: int = 1, namespace: str = "default") -> None:
    apps.create_namespaced_deployment(namespace, _workload("Deployment", name, pod, namespace, replicas=replicas))


def _daemonset(apps: Any, name: str, pod: Obj, *, namespace: str = "kube-system") -> None:
    apps.create_namespaced_daemon_set(namespace, _workload("DaemonSet", name, pod, namespace))


def _pods(kube: Kube, name: str, namespace: str = "default") -> list[Obj]:
    return kube.list("v1", "Pod", namespace, f"app={name}")


def _scheduled(pod: Obj) -> Obj:
    return next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")


def _run(server: KubeApiServer, passes: int = 1) -> None:
    reconciler = Reconciler(server.store)
    for _ in range(passes):
        reconciler.run()


def test_untolerated_taint_leaves_the_pod_pending_with_the_schedulers_message(
    core: Any, apps: Any, kube: Kube, kube_api: KubeApiServer
) -> None:
    for i in range(3):
        _node(core, f"db-{i}", taints=[DB_TAINT])
    _deployment(apps, "web", {})
    _run(kube_api)
    [pod] = _pods(kube, "web")
    assert pod["status"]["phase"] == "Pending"
    condition = _scheduled(pod)
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    assert condition["message"] == (
        "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: db}. " + PREEMPTION.format(n=3)
    )
    assert "nodeName" not in pod["spec"] or not pod["spec"]["nodeName"]
    verdict = readiness.workload_verdicts(kube, [("Deployment", "default", "web")])["Deployment default/web"]
    assert not verdict.ready
    assert "1 pod(s) Unschedulable: 0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: db}" in (
        verdict.reason
    )


@pytest.mark.parametrize(
    ("toleration", "fits"),
    [
        ({"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}, True),
        ({"key": "dedicated", "value": "db"}, True),  # Equal is the default operator; no effect = every effect
        ({"key": "dedicated", "operator": "Exists"}, True),
        ({"operator": "Exists"}, True),  # no key: every taint
        ({"key": "dedicated", "operator": "Equal", "value": "cache"}, False),
        ({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": "CriticalAddonsOnly", "operator": "Exists"}, False),
    ],
)
def test_tolerations_exists_and_equal(
    core: Any, apps: Any, kube: Kube, kube_api: KubeApiServer, toleration: Obj, fits: bool
) -> None:
    _node(core, "db-0", taints=[DB_TAINT])
    _deployment(apps, "app", {"tolerations": [toleration]})
    _run(kube_api)
    [pod] = _pods(kube, "app")
    assert (pod["spec"].get("nodeName") == "db-0") is fits
    assert (pod["status"]["phase"] == "Running") is fits


def test_prefer_no_schedule_only_ranks_and_no_execute_filters(
    core: Any, apps: Any, kube: Kube, kube_api: KubeApiServer
) -> None:
    _node(core, "a-soft", taints=[{"key": "spot", "value": "true", "effect": "PreferNoSchedule"}])
    _node(core, "b-plain")
    _node(core, "c-evict", taints=[{"key": "gpu", "value": "", "effect": "NoExecute"}])
    _deployment(apps, "web", {}, replicas=3)
    _run(kube_api)
    placed = sorted(p["spec"]["nodeName"] for p in _pods(kube, "web"))
    # b-plain is preferred; a-soft still takes pods (a preference, not a filter); c-evict none.
    assert "c-evict" not in placed
    assert placed.count("b-plain") >= 1
    _deployment(apps, "lone", {})
    _run(kube_api)
    assert [p["spec"]["nodeName"] for p in _pods(kube, "lone")] == ["b-plain"]


def test_node_selector_and_required_affinity(core: Any, apps: Any, kube: Kube, kube_api: KubeApiServer) -> None:
    _node(core, "amd", labels={"kubernetes.io/arch": "amd64", "role": "worker"})
    _node(core, "arm", labels={"kubernetes.io/arch": "arm64", "role": "worker"})
    _node(core, "sys", taints=[DB_TAINT], labels={"kubernetes.io/arch": "amd64", "role": "system"})
    _deployment(apps, "sel", {"nodeSelector": {"kubernetes.io/arch": "arm64"}})
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "role", "operator": "In", "values": ["worker"]}]},
                ]
            }
        }
    }
    not_amd = {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["amd64"]}
    _deployment(apps, "aff", {"affinity": affinity})
    _deployment(apps, "none", {"nodeSelector": {"role": "gpu"}})
    nowhere = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [not_amd, {"key": "role", "operator": "In", "values": ["system"]}]}
    ]}}}  # fmt: skip
    _deployment(apps, "nowhere", {"affinity": nowhere})
    _run(kube_api)
    assert [p["spec"]["nodeName"] for p in _pods(kube, "sel")] == ["arm"]
    assert [p["spec"]["nodeName"] for p in _pods(kube, "aff")] in (["amd"], ["arm"])
    [none] = _pods(kube, "none")
    assert _scheduled(none)["message"] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
        "2 node(s) didn't match Pod's node affinity/selector. " + PREEMPTION.format(n=3)
    )
    [nowhere_pod] = _pods(kube, "nowhere")
    assert _scheduled(nowhere_pod)["reason"] == "Unschedulable"


def test_daemonsets_place_one_pod_per_eligible_node(core: Any, apps: Any, kube: Kube, kube_api: KubeApiServer) -> None:
    _node(core, "plain")
    _node(core, "tainted", taints=[DB_TAINT])
    _node(core, "booting", ready=False)
    _node(core, "windows", labels={"kubernetes.io/os": "windows"})
    linux = {"nodeSelector": {"kubernetes.io/os": "linux"}}
    # A CNI agent: every taint tolerated, host network: it runs on the NotReady node too.
    _daemonset(apps, "agent", {"hostNetwork": True, "tolerations": [{"operator": "Exists"}], **linux})
    # A plain daemon: the controller's own tolerations cover not-ready:NoExecute, not NoSchedule.
    _daemonset(apps, "logs", linux)
    _run(kube_api, passes=2)
    agent = {p["spec"]["nodeName"]: p["status"]["phase"] for p in _pods(kube, "agent", "kube-system")}
    assert agent == {"plain": "Running", "tainted": "Running", "booting": "Running"}
    logs = {p["spec"]["nodeName"] for p in _pods(kube, "logs", "kube-system")}
    assert logs == {"plain"}
    status = apps.read_namespaced_daemon_set("logs", "kube-system").status
    assert (status.desired_number_scheduled, status.number_ready) == (1, 1)
    tolerations = _pods(kube, "logs", "kube-system")[0]["spec"]["tolerations"]
    assert {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"} in tolerations
    # The node turns Ready and loses its not-ready taints: the plain daemon follows.
    core.patch_node("booting", {"spec": {"taints": []}})
    core.patch_node_status("booting", {"status": {"conditions": [READY]}})
    _run(kube_api, passes=2)
    assert {p["spec"]["nodeName"] for p in _pods(kube, "logs", "kube-system")} == {"plain", "booting"}


def test_pods_without_host_network_wait_for_the_pod_network(
    core: Any, apps: Any, kube: Kube, kube_api: KubeApiServer
) -> None:
    _node(core, "booting", ready=False)
    _deployment(apps, "anywhere", {"tolerations": [{"operator": "Exists"}]})
    _deployment(apps, "picky", {})
    _run(kube_api)
    [anywhere] = _pods(kube, "anywhere")
    assert (anywhere["spec"]["nodeName"], anywhere["status"]["phase"]) == ("booting", "Pending")
    assert anywhere["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
    [picky] = _pods(kube, "picky")
    assert "untolerated taint {node.kubernetes.io/not-ready: }" in _scheduled(picky)["message"]


def test_host_ports_conflict_between_pods_and_with_the_kubelet(
    core: Any, apps: Any, kube: Kube, kube_api: KubeApiServer
) -> None:
    _node(core, "only")
    port = [{"name": "https", "containerPort": 4443}]
    _deployment(apps, "ms", {"hostNetwork": True, "containers": [{"name": "ms", "ports": port}]}, replicas=2)
    kubelet_port = [{"name": "https", "containerPort": 10250}]
    _deployment(apps, "clash", {"hostNetwork": True, "containers": [{"name": "c", "ports": kubelet_port}]})
    _run(kube_api, passes=2)
    phases = sorted(p["status"]["phase"] for p in _pods(kube, "ms"))
    assert phases == ["Pending", "Running"]
    pending = next(p for p in _pods(kube, "ms") if p["status"]["phase"] == "Pending")
    assert "1 node(s) didn't have free ports for the requested pod ports" in _scheduled(pending)["message"]
    [clash] = _pods(kube, "clash")
    waiting = clash["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"
    assert "10250: bind: address already in use" in waiting["message"]
    assert "CrashLoopBackOff" in readiness.pod_ready(clash).reason


def _metrics_api(core: Any, api_client: client.ApiClient) -> None:
    labels = {"app": "metrics"}
    core.create_namespaced_service(
        "kube-system",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "metrics"},
            "spec": {"selector": labels, "ports": [{"name": "https", "port": 443}]},
        },
    )
    body = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "service": {"namespace": "kube-system", "name": "metrics", "port": 443},
        },
    }
    client.CustomObjectsApi(api_client).create_cluster_custom_object(
        "apiregistration.k8s.io", "v1", "apiservices", body
    )


@pytest.mark.parametrize(
    ("cni_overlay", "host_network", "available"),
    [(True, False, False), (True, True, True), (False, False, True)],
    ids=["overlay", "overlay-host-network", "vpc-cni"],
)
def test_the_control_plane_reaches_pod_addresses_only_without_an_overlay(
    core: Any,
    apps: Any,
    api_client: client.ApiClient,
    kube: Kube,
    kube_api: KubeApiServer,
    cni_overlay: bool,
    host_network: bool,
    available: bool,
) -> None:
    _node(core, "n1")
    everywhere = {"hostNetwork": True, "tolerations": [{"operator": "Exists"}]}
    _daemonset(apps, "calico-node" if cni_overlay else "aws-node", everywhere)
    ports = [{"name": "https", "containerPort": 4443}]
    pod = {"hostNetwork": host_network, "containers": [{"name": "metrics", "ports": ports}]}
    _deployment(apps, "metrics", pod, namespace="kube-system")
    _metrics_api(core, api_client)
    _run(kube_api, passes=2)
    apiservice = kube.get("apiregistration.k8s.io/v1", "APIService", "v1beta1.metrics.k8s.io")
    assert apiservice is not None
    verdict = readiness.apiservice_available(apiservice)
    assert verdict.ready is available
    report = validate_cluster(kube, {})
    rows = [r for r in report.rows if r.kind == "APIService"]
    if available:
        assert rows == []
    else:
        assert verdict.reason.startswith("FailedDiscoveryCheck: failing or missing response from https://192.168.")
        assert "i/o timeout" in verdict.reason
        assert [r.name for r in rows] == ["v1beta1.metrics.k8s.io"]


def test_apiservice_without_endpoints(
    core: Any, api_client: client.ApiClient, kube: Kube, kube_api: KubeApiServer
) -> None:
    _metrics_api(core, api_client)
    _run(kube_api)
    apiservice = kube.get("apiregistration.k8s.io/v1", "APIService", "v1beta1.metrics.k8s.io")
    assert apiservice is not None
    assert readiness.apiservice_available(apiservice).reason == (
        'MissingEndpoints: endpoints for service/metrics in "kube-system" have no addresses with port name "https"'
    )


def test_a_webhook_served_inside_the_overlay_fails_requests_it_intercepts(
    core: Any, apps: Any, kube: Kube, kube_api: KubeApiServer
) -> None:
    store = kube_api.store
    store.admission.append(lambda op, rtype, obj: admission(store, op, rtype, obj))
    _node(core, "n1")
    _daemonset(apps, "calico-node", {"hostNetwork": True, "tolerations": [{"operator": "Exists"}]})
    _deployment(apps, "hook", {}, namespace="kube-system")
    core.create_namespaced_service(
        "kube-system",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "hook"},
            "spec": {"selector": {"app": "hook"}, "ports": [{"port": 443}]},
        },
    )
    _run(kube_api, passes=2)
    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "guard"},
        "webhooks": [
            {
                "name": "guard.example.com",
                "clientConfig": {"service": {"namespace": "kube-system", "name": "hook", "path": "/validate"}},
                "rules": [
                    {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}
                ],
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
            }
        ],
    }
    admission_api: Any = client.AdmissionregistrationV1Api(core.api_client)
    admission_api.create_validating_webhook_configuration(webhook)
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("default", CONFIG_MAP)
    assert info.value.status == 500
    message = json.loads(str(info.value.body))["message"]
    assert message.startswith('Internal error occurred: failed calling webhook "guard.example.com": failed to call')
    assert message.endswith('Post "https://hook.kube-system.svc:443/validate?timeout=10s": context deadline exceeded')
    core.create_namespaced_secret(
        "default", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "y"}}
    )  # not intercepted
    # With host networking the control plane reaches it.
    apps.patch_namespaced_deployment("hook", "kube-system", {"spec": {"template": {"spec": {"hostNetwork": True}}}})
    _run(kube_api, passes=2)
    core.create_namespaced_config_map("default", CONFIG_MAP)


def test_a_full_node_takes_no_more_pods(core: Any, apps: Any, kube: Kube, kube_api: KubeApiServer) -> None:
    """The kubelet's maxPods is the node's allocatable pods: the scheduler stops there."""
    _node(core, "small")
    core.patch_node_status("small", {"status": {"allocatable": {"pods": "2"}, "capacity": {"pods": "2"}}})
    _deployment(apps, "web", {}, replicas=3)
    _run(kube_api)
    phases = sorted(p["status"]["phase"] for p in _pods(kube, "web"))
    assert phases == ["Pending", "Running", "Running"]
    pending = next(p for p in _pods(kube, "web") if p["status"]["phase"] == "Pending")
    assert _scheduled(pending)["message"].startswith("0/1 nodes are available: 1 Too many pods.")


def test_eks_metrics_server_add_on_listens_on_10251_unless_configured() -> None:
    """EKS's add-on is "pre-configured to use port 10251" (the upstream chart's 10250 is the
    kubelet's): on the node's network with its defaults it does not clash with the kubelet."""
    from clusterdrop.local import eks_addons

    def port(config: dict[str, Any]) -> int:
        deployment = next(o for o in eks_addons.objects("metrics-server", config) if o["kind"] == "Deployment")
        return int(deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"])

    assert port({"hostNetwork": {"enabled": True}}) == 10251
    assert port({"hostNetwork": {"enabled": True}, "containerPort": 4443}) == 4443
