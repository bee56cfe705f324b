"""Running variants: the executor (local.py: one child process per variant) and the worker
(worker.py: one variant start to finish, in that child), with what a record says of the
machine (environment.py).

`harness.run(suite, ...)` is the Python API's run (harness/api.py). Python binds a
subpackage to its parent's attribute of the same name once it is imported, so
`harness.run` is this package as soon as anything imports from it; calling the package
calls the API's function, so `harness.run(...)` means one thing always.
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from harness.api import run

        return run(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
