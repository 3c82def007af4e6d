"""Measures oc_jupyter against the raw container engine, side by side, on this machine.

Run ``.venv/bin/python -m benchmarks`` from the repository root; ``--help``
lists the options. Results are printed as a markdown table and saved, with the
machine they came from, under ``benchmarks/results/``.
"""
