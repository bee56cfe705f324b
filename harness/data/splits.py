"""Split strings in the datasets syntax ("train", "train[:80%]", "validation[10:20]",
"a+b"), resolved by datasets' own ReadInstruction so "80%" rounds exactly as
load_dataset would. Every data source (files, built-in tasks, MMLU folders) slices through
`resolve_split`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from harness.errors import HarnessError


def resolve_split(split: str, ref: str, known: tuple[str, ...] | None, length: Callable[[str], int]) -> list:
    """datasets' own reading of a split string: [(splitname, from_, to)], one per '+' part.

    `known` lists the split names a source has (None: any name, as for a local file);
    `length` gives a split's row count.
    """
    import datasets  # slow to import; only needed once a split is read

    if not isinstance(split, str):
        raise HarnessError(f"{ref}: split must be a string such as 'train' or 'train[:80%]', got {split!r}")
    try:
        instruction = datasets.ReadInstruction.from_spec(split)
        # ReadInstruction keeps its parts private; resolving against a mapping that knows
        # every name reads them through the public API.
        names = [part.splitname for part in instruction.to_absolute(_AnyName())]
    except (ValueError, AssertionError) as err:
        raise HarnessError(
            f"{ref}: split {split!r} is not valid ({err}); write e.g. 'train', 'train[:80%]', 'validation[10:20]'"
        ) from None
    for name in names:
        if known is not None and name not in known:
            raise HarnessError(f"{ref} has no split {name!r}; it has: {', '.join(known)}")
    return instruction.to_absolute({name: length(name) for name in names})


class _AnyName(Mapping):
    """Every split name is present, with no rows."""

    def __getitem__(self, name: str) -> int:
        return 0

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0
