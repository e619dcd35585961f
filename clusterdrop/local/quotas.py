"""The embedded account's service quotas: a new account's defaults (or what `local up --quota`
sets), enforced where AWS enforces them and answered by Service Quotas' API.

- EC2 refuses the create that would pass a quota, with the error AWS documents for it
  (VpcLimitExceeded, InternetGatewayLimitExceeded, AddressLimitExceeded, NatGatewayLimitExceeded,
  SecurityGroupLimitExceeded — EC2 API reference, "Error codes"), whether the call comes over the
  API or from a CloudFormation stack; in a stack the resource fails as CloudFormation shows a
  service's refusal (HandlerErrorCode ServiceLimitExceeded) and the stack rolls back.
- EKS refuses a cluster or a managed node group past its quota with ResourceLimitExceededException
  (CreateCluster's and CreateNodegroup's documented errors), and a node group larger than the
  nodes-per-group quota.
- Service Quotas answers GetServiceQuota with the applied value of a quota set away from its
  default and NoSuchResourceException otherwise ("If the applied quota value is not available for
  a quota, the quota is not retrieved"), and GetAWSDefaultServiceQuota with the default. moto has
  only the VPC quotas' defaults and no GetAWSDefaultServiceQuota. RequestServiceQuotaIncrease is
  approved at once (on AWS a request is reviewed, minutes to days): the embedded account is a test
  account; a request for no more than the current value is refused, as AWS refuses it.

- EC2 refuses an instance past the running-instance vCPU quota of its family (VcpuLimitExceeded,
  "You have requested more vCPU capacity than your current vCPU limit of N allows for the instance
  bucket that the specified instance type belongs to. …"; for Spot MaxSpotInstanceCountExceeded).
  The emulated nodes are EC2 instances (`eks/instances.py`): a node group whose instances cannot
  launch fails as EKS fails it (AsgInstanceLaunchFailures).
"""

from __future__ import annotations

import inspect
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from clusterdrop.local import aws_facts

# EC2's error for each quota it enforces here, and its message.
_EC2_ERRORS = {
    "vpcs": ("VpcLimitExceeded", "The maximum number of VPCs has been reached."),
    "internet-gateways": ("InternetGatewayLimitExceeded", "The maximum number of internet gateways has been reached."),
    "elastic-ips": ("AddressLimitExceeded", "The maximum number of addresses has been reached."),
    "nat-gateways": ("NatGatewayLimitExceeded", "The maximum number of NAT Gateways has been reached."),
    "security-groups": ("SecurityGroupLimitExceeded", "The maximum number of security groups has been reached."),
}


@dataclass
class AccountQuotas:
    """The quota values of the embedded account, by quota key (aws_facts.NEW_ACCOUNT_QUOTAS)."""

    applied: dict[str, float] = field(default_factory=dict)  # set away from the default
    lock: threading.RLock = field(default_factory=threading.RLock)

    def value(self, key: str) -> float:
        return self.applied.get(key, aws_facts.NEW_ACCOUNT_QUOTAS[key].default)

    def set(self, key: str, value: float) -> None:
        """As an approved quota increase (or a test's account) sets it."""
        if key not in aws_facts.NEW_ACCOUNT_QUOTAS:
            raise KeyError(key)
        with self.lock:
            self.applied[key] = float(value)

    def reset(self, key: str) -> None:
        with self.lock:
            self.applied.pop(key, None)


def parse(options: list[str]) -> dict[str, float]:
    """`--quota vpcs=10 --quota elastic-ips=10`: the values by key; a clear error otherwise."""
    out: dict[str, float] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in aws_facts.NEW_ACCOUNT_QUOTAS:
            known = ", ".join(sorted(aws_facts.NEW_ACCOUNT_QUOTAS))
            raise ValueError(f"--quota {option}: expected KEY=NUMBER with KEY one of {known}")
        try:
            out[key] = float(value)
        except ValueError:
            raise ValueError(f"--quota {option}: {value!r} is not a number") from None
    return out


_current = AccountQuotas()


def current() -> AccountQuotas:
    return _current


def install(account: AccountQuotas) -> None:
    """Make `account` the embedded account's quotas (moto is patched once per process)."""
    global _current
    _current = account
    from moto.ec2.models import EC2Backend

    if getattr(EC2Backend, "_clusterdrop_quotas", False):
        return
    EC2Backend._clusterdrop_quotas = True  # type: ignore[attr-defined]
    _enforce_ec2(EC2Backend)
    _enforce_vcpus(EC2Backend)
    _enforce_eks()
    _answer_service_quotas()
    _stack_failures()


def _limit_error(key: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    code, message = _EC2_ERRORS[key]
    error = EC2ClientError(code, message)
    error.quota_message = message  # type: ignore[attr-defined]
    return error


def _full(key: str, used: int) -> bool:
    return used + 1 > current().value(key)


def _enforce_ec2(backend_cls: Any) -> None:
    def guarded(name: str, key: str, used: Any) -> None:
        original = getattr(backend_cls, name)

        def create(self: Any, *args: Any, **kwargs: Any) -> Any:
            with current().lock:
                if _full(key, used(self, *args, **kwargs)):
                    raise _limit_error(key)
                return original(self, *args, **kwargs)

        setattr(backend_cls, name, create)

    def nat_in_zone(self: Any, *args: Any, **kwargs: Any) -> int:
        subnet_id = args[0] if args else kwargs["subnet_id"]
        zone = self.get_subnet(subnet_id).availability_zone
        live = [g for g in self.nat_gateways.values() if g.state != "deleted"]
        return sum(1 for g in live if self.get_subnet(g.subnet_id).availability_zone == zone)

    def addresses(self: Any, *args: Any, **kwargs: Any) -> int:
        domain = args[0] if args else kwargs.get("domain", "vpc")
        return len([a for a in self.addresses if a.domain == "vpc"]) if domain == "vpc" else -1

    guarded("create_vpc", "vpcs", lambda self, *a, **k: len(self.vpcs))
    guarded("create_internet_gateway", "internet-gateways", lambda self, *a, **k: len(self.internet_gateways))
    guarded("allocate_address", "elastic-ips", addresses)
    guarded("create_nat_gateway", "nat-gateways", nat_in_zone)
    guarded(
        "create_security_group",
        "security-groups",
        lambda self, *a, **k: sum(len(groups) for groups in self.groups.values()),
    )


def launch_refusal(account: str, region: str, instance_type: str, spot: bool, count: int) -> tuple[str, str] | None:
    """EC2's error code and message when `count` more instances of the type would pass its vCPU
    quota (None when they fit, or for a family no quota here covers)."""
    from clusterdrop.local.eks import instances

    key = instances.quota_key(instance_type, spot)
    if key is None:
        return None
    limit = current().value(key)
    if instances.in_use(account, region).get(key, 0) + count * instances.vcpus(instance_type) <= limit:
        return None
    if spot:
        return "MaxSpotInstanceCountExceeded", "Max spot instance count exceeded"
    message = (
        f"You have requested more vCPU capacity than your current vCPU limit of {limit:g} allows for the instance "
        "bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request "
        "to request an adjustment to this limit."
    )
    return "VcpuLimitExceeded", message


def _enforce_vcpus(backend_cls: Any) -> None:
    from moto.ec2.exceptions import EC2ClientError

    original = backend_cls.run_instances

    def run_instances(self: Any, image_id: str, count: int, *args: Any, **kwargs: Any) -> Any:
        # moto passes InstanceMarketOptions.MarketType as it came ("spot"), and marks such an
        # instance Spot whatever the value; the node simulator passes lifecycle.
        spot = kwargs.get("lifecycle") == "spot" or bool(kwargs.get("instance_market_options"))
        with current().lock:
            refusal = launch_refusal(
                self.account_id, self.region_name, str(kwargs.get("instance_type") or "m1.small"), spot, int(count)
            )
            if refusal is not None:
                error = EC2ClientError(*refusal)
                error.quota_message = refusal[1]  # type: ignore[attr-defined]
                raise error
            return original(self, image_id, count, *args, **kwargs)

    backend_cls.run_instances = run_instances


def _eks_limit(message: str) -> Exception:
    from moto.eks.exceptions import EKSError

    class ResourceLimitExceededException(EKSError):
        TYPE = "ResourceLimitExceededException"
        STATUS = 400

    error = ResourceLimitExceededException(message=message)
    error.quota_message = message  # type: ignore[attr-defined]
    return error


def _enforce_eks() -> None:
    from moto.eks.models import EKSBackend

    create_cluster, create_nodegroup = EKSBackend.create_cluster, EKSBackend.create_nodegroup

    def cluster(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = inspect.signature(create_cluster).bind(self, *args, **kwargs).arguments["name"]
        limit = current().value("clusters")
        if len(self.clusters) + 1 > limit:
            raise _eks_limit(f"Cannot create cluster {name}: this account has reached its limit of {limit:g} clusters")
        return create_cluster(self, *args, **kwargs)

    def nodegroup(self: Any, *args: Any, **kwargs: Any) -> Any:
        given = inspect.signature(create_nodegroup).bind(self, *args, **kwargs).arguments
        cluster_name, nodegroup_name = given["cluster_name"], given["nodegroup_name"]
        limit = current().value("node-groups")
        groups = self.clusters[cluster_name].nodegroups if cluster_name in self.clusters else {}
        if len(groups) + 1 > limit:
            raise _eks_limit(
                f"Cannot create nodegroup {nodegroup_name}: cluster {cluster_name} has reached its limit of "
                f"{limit:g} managed node groups"
            )
        scaling = given.get("scaling_config") or {}
        nodes = current().value("nodes")
        size = max(int(scaling.get("maxSize", 0) or 0), int(scaling.get("desiredSize", 0) or 0))
        if size > nodes:
            raise _eks_limit(
                f"Cannot create nodegroup {nodegroup_name} of {size} nodes: the limit is {nodes:g} nodes per "
                "managed node group"
            )
        return create_nodegroup(self, *args, **kwargs)

    EKSBackend.create_cluster = cluster  # type: ignore[method-assign]
    EKSBackend.create_nodegroup = nodegroup  # type: ignore[method-assign]


def _quota_document(q: aws_facts.AccountQuota, value: float, region: str) -> dict[str, Any]:
    return {
        "ServiceCode": q.service,
        "QuotaCode": q.code,
        "QuotaName": q.name,
        "QuotaArn": f"arn:aws:servicequotas:{region}::{q.service}/{q.code}",
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


def _answer_service_quotas() -> None:
    import json

    from moto.servicequotas.exceptions import NoSuchResource
    from moto.servicequotas.models import ServiceQuotasBackend
    from moto.servicequotas.responses import ServiceQuotasResponse

    original = ServiceQuotasBackend.get_service_quota

    def known(service_code: str, quota_code: str) -> aws_facts.AccountQuota | None:
        q = aws_facts.quota_by_code(quota_code)
        return q if q is not None and q.service == service_code else None

    def get_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        q = known(service_code, quota_code)
        if q is None:
            return original(self, service_code, quota_code)
        if q.key not in current().applied:
            raise NoSuchResource
        return _quota_document(q, current().value(q.key), self.region_name)

    def get_aws_default_service_quota(self: Any, service_code: str, quota_code: str) -> dict[str, Any]:
        q = known(service_code, quota_code)
        if q is None:
            raise NoSuchResource
        return _quota_document(q, q.default, self.region_name)

    def respond(self: Any) -> str:
        params = json.loads(self.body)
        quota = self.backend.get_aws_default_service_quota(str(params.get("ServiceCode")), str(params.get("QuotaCode")))
        return json.dumps({"Quota": quota})

    def request_increase(self: Any) -> str:
        from moto.core.exceptions import JsonRESTError

        params = json.loads(self.body)
        q = known(str(params.get("ServiceCode")), str(params.get("QuotaCode")))
        if q is None:
            raise NoSuchResource
        desired = float(params.get("DesiredValue", 0))
        if desired <= current().value(q.key):
            raise JsonRESTError(
                "IllegalArgumentException", f"The desired value {desired:g} is not above the current value"
            )
        current().set(q.key, desired)
        requested = {
            "Id": uuid.uuid4().hex,
            "ServiceCode": q.service,
            "QuotaCode": q.code,
            "QuotaName": q.name,
            "DesiredValue": desired,
            "Status": "APPROVED",
            "Requester": "embedded",
        }
        return json.dumps({"RequestedQuota": requested})

    ServiceQuotasBackend.get_service_quota = get_service_quota  # type: ignore[method-assign]
    ServiceQuotasBackend.get_aws_default_service_quota = get_aws_default_service_quota  # type: ignore[attr-defined]
    ServiceQuotasResponse.get_aws_default_service_quota = respond  # type: ignore[attr-defined]
    ServiceQuotasResponse.request_service_quota_increase = request_increase  # type: ignore[attr-defined]


def _stack_failures() -> None:
    """In a stack, a refused create is the resource's failure as CloudFormation reports a
    service's refusal; the stack then rolls back (local/eks/faults.py)."""
    from moto.cloudformation import parsing

    from clusterdrop.local.eks import SimulatedFailure

    original = parsing.parse_and_create_resource

    def create(logical_id: str, resource_json: Any, resources_map: Any, account_id: str, region_name: str) -> Any:
        try:
            return original(logical_id, resource_json, resources_map, account_id, region_name)
        except Exception as exc:
            message = getattr(exc, "quota_message", None)
            if message is None:
                raise
            service = "Eks" if resource_json.get("Type", "").startswith("AWS::EKS::") else "Ec2"
            raise SimulatedFailure(
                logical_id,
                resource_json.get("Type", ""),
                f'Resource handler returned message: "{message} (Service: {service}, Status Code: 400, '
                f'Request ID: {uuid.uuid4()})" (HandlerErrorCode: ServiceLimitExceeded)',
            ) from None

    parsing.parse_and_create_resource = create
