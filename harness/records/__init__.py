"""The one store: the record schema (schema.py), atomic writes, reading, locks and the
suite folders (store.py), prediction files (predictions.py) and which record of a variant
speaks for it (newest.py). Torch-free: leaderboards and CI gates read records anywhere.
"""
