"""harness: an evaluation-first benchmarking harness for fine-tuning methods.

The torch-free half (spec, plan, results, check) imports without torch; the
training and evaluation half (worker, train, evaluate, methods, models) does not.
"""

__version__ = "0.1.0"
