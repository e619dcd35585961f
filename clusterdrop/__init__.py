"""clusterdrop: drop a cluster spec into S3, get a working Kubernetes cluster on AWS."""

__version__ = "0.1.0"
