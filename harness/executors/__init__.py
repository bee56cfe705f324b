"""Executors run planned variants and hand back one Outcome each, as they finish.

local.py runs them one after another, each in a child process. Another executor (a GPU
pool, ray) implements the same generator: run(variants, results_dir, force) -> Outcomes.
"""
