"""The cluster spec: loading, validation, defaults, eksctl import."""
