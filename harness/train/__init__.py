"""Training: the loop (loop.py, read top to bottom), the examples it learns from
(trainset.py) and how they are batched (batches.py).
"""
