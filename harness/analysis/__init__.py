"""From records alone (no model, no torch): paired tests (paired.py), the comparisons
between a suite's variants (compare.py) and re-scoring saved predictions (rescore.py).
"""
