"""Container network interfaces: the catalog of supported versions and their artifacts."""
