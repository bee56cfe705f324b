"""Regression gating: `harness baseline` and `harness check`. Imports no torch.

snapshot.py  a suite folder's ok records -> per variant, eval and metric: the value, its
             interval, what makes it comparable and the per-example evidence for a
             paired test (the same structure is a baseline file and a fresh result set)
baseline.py  writing and reading baseline files (self-contained JSON)
check.py     baseline vs results: matching, comparability, paired tests, Holm, verdicts
output.py    the verdicts as a Markdown table (stdout, GitHub job summary) or JSON
"""
