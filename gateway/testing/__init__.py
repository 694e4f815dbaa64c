"""Synthetic data for tests and benchmarks (children, records, CTFs). The running gateway
never imports this package; the ``ctf generate`` command and ``bench/`` do."""
