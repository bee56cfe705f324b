"""The suite: its format (schema.py), loading a file (loading.py), checking names and
references (checks.py), and planning it into variants (plan.py, variant.py). Torch-free.

The first stage of the pipeline: suite -> run -> train / evaluate -> records -> analysis,
report, gate. schema.py and variant.py are the types every later stage reads.
"""
