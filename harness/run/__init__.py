"""Running variants: the executor (local.py: one child process per variant) and the worker
(worker.py: one variant start to finish, in that child), with what a record says of the
machine (environment.py).
"""
