"""Benchmarks, run on demand (each prints its figures and goals):

.venv/bin/python -m bench.updates      PATCH round trips against a bare Temporal update
.venv/bin/python -m bench.read_model   list, counts and export at 100,000 tickets
"""
