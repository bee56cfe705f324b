"""Evaluation: turning a model and an eval's examples into predictions and scores.

generation.py decodes greedily in batches; scoring.py applies the eval's metrics
(harness.metrics) and returns record entries plus per-example scores. New task kinds
(multiple choice, lm-eval, forgetting probes) add a module here.
"""
