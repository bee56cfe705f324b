"""Data: where rows come from (sources: builtin tasks, hub datasets, local files) and how a
row becomes a prompt and a completion (templates).

Nothing here imports torch, so validation and planning can read data on any machine. To add
a built-in task see harness/data/builtin; to add a file format see READERS in sources.py.
"""
