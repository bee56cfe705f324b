"""Tuning methods, one file per family; each file defines one Method object.

A method validates its own `params` (torch-free, so `harness validate` stays cheap) and
`apply`s itself to a loaded model, leaving exactly the weights it trains with
requires_grad=True. Register a new one in harness/catalog.py.
"""
