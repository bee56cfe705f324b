"""harness: an evaluation-first benchmarking harness for fine-tuning methods.

The torch-free half (spec, plan, results, check) imports without torch; the
training and evaluation half (worker, train, evaluate, methods, models) does not.

The Python API (harness/api.py), importable from here without loading anything heavy:
`harness.load_suite`, `harness.plan`, `harness.run`, `harness.load_results`,
`harness.load_records`.
"""

__version__ = "0.1.0"

API = ("load_suite", "plan", "run", "start", "load_results", "load_records", "write_leaderboard")
__all__ = ["__version__", *API]


def __getattr__(name: str):
    # Lazy, so `import harness` (and `harness --help`) stays instant.
    if name in API:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
