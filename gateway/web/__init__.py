"""The HTTP layer: the partner endpoint, the operator API and the status pages."""
