"""Benchmarks, one command each (``python -m bench.NAME``), each printing its figures and ending with
one JSON line. Speed and memory targets live here, never in timed unit tests. Must not be imported by
application code."""
