"""An example harness plugin: a metric (word_recall) and a method (bias_only).

The entry points in pyproject.toml name the Declarations in declare.py; the harness imports
metric.py or method.py only when a run uses them.
"""
