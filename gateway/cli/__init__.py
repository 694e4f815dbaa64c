"""The ``cme-gateway`` command line: one module per command group, one settings loader."""
