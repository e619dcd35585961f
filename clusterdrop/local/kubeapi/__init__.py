"""A Kubernetes API emulator served over HTTP, good enough for the official client.

It refuses what a real API server refuses where that catches ordering and shape bugs (objects in
missing namespaces, custom resources before their CRD is established, invalid names, a body whose
namespace differs from the URL's). It runs no controllers unless asked: it is an API server.
"""

from clusterdrop.local.kubeapi.errors import ApiError
from clusterdrop.local.kubeapi.server import KubeApiServer
from clusterdrop.local.kubeapi.store import Store

__all__ = ["ApiError", "KubeApiServer", "Store"]
