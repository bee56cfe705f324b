"""Loading a suite file: `load_suite(path)` reads the YAML (safe loader), expands ${VAR} /
${VAR:-default} from the environment, checks the structure with pydantic (extra keys
forbidden), then the names and references (harness/suite/checks.py), and raises one
SuiteError listing every problem with its YAML path. Nothing past the plan sees a raw dict.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import HarnessError, Problem, SuiteError, explain
from harness.suite.checks import check_suite
from harness.suite.overrides import apply_overrides
from harness.suite.schema import EvalSpec, LoadedSuite, MethodSpec, Suite, TemplateSpec, TrainSpec

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, path: str, problems: list[Problem]) -> Any:
    """Expand ${VAR} and ${VAR:-default} in every string of a YAML tree."""
    if isinstance(value, dict):
        return {k: expand_env(v, _join(path, str(k)), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        problems.append(Problem(path, f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)"))
        return match.group(0)

    return _VAR.sub(substitute, value)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# pydantic names the member of a union in the error location ("str", "list[str]",
# "TemplateSpec"); a user only wants the YAML path.
_UNION_TAG = re.compile(r"^(str|int|float|bool|list\[.*\]|dict\[.*\]|TemplateSpec|function-.*)$")


def pydantic_path(loc: tuple[Any, ...]) -> str:
    """('methods', 0, 'params') -> 'methods[0].params'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _UNION_TAG.match(str(part)):
            out = f"{out}.{part}" if out else str(part)
    return out


def _all_keys() -> list[str]:
    models: list[type[BaseModel]] = [Suite, TrainSpec, MethodSpec, EvalSpec, TemplateSpec]
    return sorted({name for m in models for name in m.model_fields})


# A real suite holds hundreds of values a few levels deep. Everything after loading walks
# the tree as if each alias were a copy, so a few lines of aliases (a "billion laughs") or
# an alias inside itself would hang or overflow the stack: refuse them here.
MAX_VALUES = 100_000
MAX_DEPTH = 64


class _UniqueKeys(yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping: YAML would keep the last
    silently, so a suite saying `steps: 100` and later `steps: 10` would run with 10 and
    nobody would know. Keys a merge (`<<: *defaults`) brings in may be overridden, as YAML
    intends."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark,
                        f"the key {key!r} is written twice (first on line {seen[key].line + 1}); keep one",
                        key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def safe_yaml(text: str, path: Path) -> Any:
    """YAML through the safe loader, sized: HarnessError naming the file when it is not
    valid YAML, writes a key twice in one mapping, or its aliases expand too far or into
    themselves."""
    try:
        tree = yaml.load(text, Loader=_UniqueKeys)  # noqa: S506  a SafeLoader, with one check more
    except yaml.YAMLError as err:
        raise HarnessError(f"{path}: not valid YAML: {err}") from None
    except RecursionError:
        raise HarnessError(f"{path}: not valid YAML: nested more than the parser can follow") from None
    stack, count = [(tree, 0)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES or depth > MAX_DEPTH:
            raise HarnessError(f"{path}: the YAML holds more than {MAX_VALUES:,} values or nests deeper than {MAX_DEPTH} "
                               "levels once its aliases (*name) are expanded; a suite is far smaller: write it out, "
                               "and never put an alias inside what it names")
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for pair in node.items() for child in pair)
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return tree


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise HarnessError(f"{path}: no such suite file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise HarnessError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None
    except OSError as err:
        raise HarnessError(f"{path}: cannot be read ({err.strerror or err})") from None
    raw = safe_yaml(text, path)
    if not isinstance(raw, dict):
        raise HarnessError(f"{path}: a suite is a YAML mapping (name:, model:, evals: ...), got {type(raw).__name__}")
    return raw


def parse_suite(raw: dict[str, Any], source: str) -> tuple[Suite | None, list[Problem]]:
    """Structure only: returns the Suite (or None) and the structural problems."""
    problems: list[Problem] = []
    expanded = expand_env(raw, "", problems)
    try:
        suite = Suite.model_validate(expanded)
    except ValidationError as err:
        seen = {p.path for p in problems}  # an unset variable explains the error at its path
        for e in err.errors():
            # A value that fails every member of a union gives one error per member: keep one.
            if pydantic_path(e["loc"]) in seen:
                continue
            seen.add(pydantic_path(e["loc"]))
            problems.append(Problem(pydantic_path(e["loc"]), explain(e, _all_keys())))
        return None, problems
    return (suite if not problems else None), problems


def load_suite(source: str | Path | Mapping[str, Any], check_references: bool = True,
               overrides: list[str] | tuple[str, ...] = (), base_dir: str | Path | None = None) -> LoadedSuite:
    """Read, apply `--set` overrides (harness/suite/overrides.py), expand, validate; raise
    SuiteError with every problem at once.

    `source` is a suite file, or the suite as a mapping (what the YAML would read as, e.g. a
    dict built in a notebook); relative paths in it resolve from `base_dir`, by default the
    file's folder, or the working directory for a mapping.
    """
    if isinstance(source, Mapping):
        path, raw = Path(DICT_SOURCE), copy.deepcopy(dict(source))  # the caller's dict is left as it was
        if not all(isinstance(k, str) for k in raw):
            raise HarnessError(f"{DICT_SOURCE}: a suite's keys are strings (name:, model:, evals: ...)")
        root = Path(base_dir or Path.cwd()).resolve()
    else:
        path = Path(source)
        raw, root = read_yaml(path), Path(base_dir or path.parent).resolve()
    if overrides:
        raw = apply_overrides(raw, overrides)
    suite, problems = parse_suite(raw, str(path))
    notes: list[str] = []
    if check_references:
        more, notes = check_suite(expand_env(raw, "", []), suite, root)  # unset variables: reported above
        problems += more
    if problems or suite is None:
        raise SuiteError(str(path), in_file_order(_dedupe(problems), raw))
    return LoadedSuite(suite=suite, path=path, base_dir=root, raw=raw, notes=notes, overrides=list(overrides),
                       from_file=not isinstance(source, Mapping))


DICT_SOURCE = "<suite given as a mapping>"  # where errors point when the suite was not read from a file


def suite_text(loaded: LoadedSuite) -> str:
    """The suite as it runs: the file's text, or with `--set` or from a mapping, the YAML of
    what was validated (the results folder keeps it, so the report reads the settings that ran)."""
    if loaded.from_file and not loaded.overrides:
        return loaded.path.read_text(encoding="utf-8")
    header = (f"# {loaded.path}, run with:\n" + "".join(f"#   --set {o}\n" for o in loaded.overrides)
              if loaded.from_file else "# given as a mapping (harness.load_suite), not read from a file\n")
    return header + yaml.safe_dump(loaded.raw, sort_keys=False, allow_unicode=True)


def in_file_order(problems: list[Problem], raw: dict[str, Any]) -> list[Problem]:
    """Sort by the top-level key's position in the file, then by path (stable otherwise)."""
    order = {key: i for i, key in enumerate(raw)}

    def key(p: Problem) -> tuple[int, str]:
        top = re.split(r"[.\[]", p.path, maxsplit=1)[0]
        return order.get(top, len(order)), p.path

    return sorted(problems, key=key)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


