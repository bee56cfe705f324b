"""Hypothesis strategies that break real files the ways users and tools break them.

Three levels, each a strategy of a mutated copy:
  mutated_tree(tree)    a parsed YAML/JSON tree: a value replaced by another type, a huge or
                        negative number, unicode, a name with path separators; a key removed
                        or added; a list emptied or a value wrapped in one
  broken_text(text)     the text: cut short, YAML/JSON punctuation dropped in, lines
                        repeated or re-indented
  broken_bytes(data)    the bytes: not UTF-8, NUL, a byte-order mark, CRLF, a very long
                        line, brackets nested thousands deep, cut short, emptied
The unmutated value is always among the examples (so every test also checks the happy path).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

# Names a suite or a record may carry by mistake: path separators, traversal, absolute
# paths, Windows paths, control characters, template and ${VAR} syntax, unicode.
NASTY_STRINGS = [
    "", " ", "../../etc/passwd", "a/b", "/abs/path", "C:\\data\\x", "..", ".", "~", "a\\b", "x\x00y", "line\nbreak",
    "名前", "émoji 🎉", "\u202eevil", "\ud7ff", "${HOME}", "${HARNESS_FUZZ_UNSET}", "${HARNESS_FUZZ_UNSET:-x}",
    "{{ x }}", "{% for %}", "{{ ''.__class__ }}", "builtin:", "hf:", "mmlu:", "parallel:a|", "x.jsonl", "-", "*",
    "train[:0]", "test[100%:]", "NaN", "null", "true", "0x10", "1e309", "a" * 300,
]
NUMBERS = [0, -1, 1, 2**31, 2**63, -(2**63), 10**30, -(10**30), 1e308, -1e308, 1e-308, 0.5, -0.5, 3.5]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=12),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(NASTY_STRINGS)), scalars, max_size=3),
)
keys = st.one_of(st.sampled_from(["name", "data", "split", "metrics", "evals", "method", "params", "kind", "x", "rows"]),
                 st.text(min_size=1, max_size=10), st.sampled_from(NASTY_STRINGS[:12]))


def paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a tree (the root included), parents before children."""
    out = [prefix]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += paths(v, prefix + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += paths(v, prefix + (i,))
    return out


def _get(tree: Any, path: tuple) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _set(tree: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(tree, path[:-1])[path[-1]] = value
    return tree


def _remove(tree: Any, path: tuple) -> Any:
    if path:
        parent = _get(tree, path[:-1])
        del parent[path[-1]]
    return tree


@st.composite
def mutated_tree(draw, tree: Any, max_mutations: int = 3, root: bool = True) -> Any:
    """A deep copy of `tree` with 0 to max_mutations changes; root=False keeps the root's type."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(0, max_mutations))):
        places = paths(tree)[0 if root else 1:]
        if not places:
            break
        path = draw(st.sampled_from(places))
        op = draw(st.sampled_from(["replace", "replace", "replace", "remove", "add_key", "empty", "wrap", "duplicate"]))
        target = _get(tree, path)
        if op == "replace":
            tree = _set(tree, path, draw(values))
        elif op == "remove" and path:
            tree = _remove(tree, path)
        elif op == "add_key" and isinstance(target, dict):
            target[draw(keys)] = draw(values)
        elif op == "empty":
            tree = _set(tree, path, type(target)() if isinstance(target, (dict, list, str)) else None)
        elif op == "wrap":
            tree = _set(tree, path, [target])
        elif op == "duplicate" and isinstance(target, list) and target:
            target.append(copy.deepcopy(target[draw(st.integers(0, len(target) - 1))]))
    return tree


# Text dropped into YAML or JSON: structure characters, anchors and aliases, tags, tabs.
PUNCTUATION = [":", ": ", "- ", "[", "]", "{", "}", ",", "'", '"', "#", "&a ", "*a", "*missing", "!!", "!!int ",
               "!!python/none ", "\t", "%YAML 1.1\n", "---\n", "...\n", "|", ">", "?", "@", "`", "\\", "\n", "  "]


@st.composite
def broken_text(draw, text: str, max_mutations: int = 2) -> str:
    """The text with 0 to max_mutations edits: cut, characters inserted, a range deleted,
    a line repeated or re-indented."""
    for _ in range(draw(st.integers(0, max_mutations))):
        op = draw(st.sampled_from(["cut", "insert", "delete", "repeat_line", "indent"]))
        at = draw(st.integers(0, len(text)))
        if op == "cut":
            text = text[:at]
        elif op == "insert":
            text = text[:at] + draw(st.one_of(st.sampled_from(PUNCTUATION), st.text(max_size=4))) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, max(len(lines) - 1, 0)))
            if op == "repeat_line":
                lines.insert(i, lines[i])
            else:
                lines[i] = draw(st.sampled_from([" ", "   ", "\t"])) + lines[i]
            text = "\n".join(lines)
    return text


# Bytes that are not UTF-8 text, or are text in a way readers trip on.
BAD_BYTES = [b"\xff", b"\xfe\xff", b"\x80", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\r", b"\x1a"]


@st.composite
def broken_bytes(draw, data: bytes, long_lines: tuple[int, ...] = (300, 5000, 1 << 20)) -> bytes:
    """The bytes with one file-level fault, or unchanged; a long line is one of long_lines bytes."""
    op = draw(st.sampled_from(["same", "bad_bytes", "bom", "crlf", "long_line", "deep", "empty", "blank", "cut", "latin1"]))
    at = draw(st.integers(0, len(data)))
    if op == "bad_bytes":
        return data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:]
    if op == "bom":
        return b"\xef\xbb\xbf" + data
    if op == "crlf":
        return data.replace(b"\n", b"\r\n")
    if op == "long_line":  # where it may cut a row in two, or make a name longer than the system allows
        return data[:at] + b"x" * draw(st.sampled_from(long_lines)) + data[at:]
    if op == "deep":  # brackets nested past any parser's recursion limit
        return data[:at] + b"[" * 3000 + b"]" * 3000 + data[at:]
    if op == "empty":
        return b""
    if op == "blank":
        return b"\n \n\t\n"
    if op == "cut":
        return data[:at]
    if op == "latin1":
        return data.decode("utf-8", errors="replace").encode("latin-1", errors="replace") + "é".encode("latin-1")
    return data
