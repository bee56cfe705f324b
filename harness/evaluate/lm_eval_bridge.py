"""`kind: lm_eval`: any lm-evaluation-harness task, run by lm-eval itself on the model in
memory (lm_eval.models.huggingface.HFLM around the tuned model and its tokenizer).

Owns turning an eval into a simple_evaluate call and lm-eval's results into the record's
scores and prediction rows. `task:` is a task, group or tag name known to lm-eval (plus any
in `include_path`), or a task YAML file (relative to the suite's folder). lm-eval reads the
YAML's own data paths as it always does, relative to the working directory, so write them
absolute. `limit` passes through (questions per task); `shots` > 0 sets num_fewshot (0
keeps the task's own setting); `chat` applies the chat template; `batch_size` is HFLM's.

Scores: every metric lm-eval reports for the task (for a group, its aggregate) becomes
{value, ci_low, ci_high, n, stderr, ...}. lm-eval gives a standard error, not a bootstrap
interval, so the interval is value +- 1.96 * stderr ("interval": "normal, from lm-eval
stderr"; zero width where lm-eval gives none). A metric under a filter other than "none"
is named "metric,filter" as lm-eval prints it; several top-level tasks (a tag) prefix
"task/". The eval's `metrics:` keep those named (a bare metric name keeps it under every
filter and task); one lm-eval does not report is an error listing what it did. Rows come
from lm-eval's logged samples: prompt, chosen continuation or generated text, target, and
each kept metric's per-sample value, so paired comparisons work as for other evals.

Unlike the other evals, these scores are lm-eval's own and `harness score` leaves them.
To support another output type's rows, extend `_prediction`.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
import math
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.suite.schema import EvalSpec

log = logging.getLogger(__name__)

Z95 = 1.959963984540054  # two-sided 95% normal quantile
BOOTSTRAP_ITERS = 1000  # lm-eval's stderr of non-mean metrics (BLEU...); its default 100000 takes minutes
INSTALL = "pip install 'harness[lm-eval]'"


def _need_lm_eval(ev: EvalSpec) -> None:
    """lm-eval is an optional dependency: missing, a HarnessError names the extra that installs it."""
    if importlib.util.find_spec("lm_eval") is None:
        raise HarnessError(f"eval {ev.name}: kind lm_eval needs lm-eval, which is not installed here: {INSTALL}")


def is_task_file(task: str) -> bool:
    return task.endswith((".yaml", ".yml"))


def task_path(ev: EvalSpec, base_dir: Path) -> Path:
    path = Path(ev.task).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


def include_dir(ev: EvalSpec, base_dir: Path) -> Path | None:
    if ev.include_path is None:
        return None
    path = Path(ev.include_path).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


def _task_spec(ev: EvalSpec, base_dir: Path):
    """(what to hand simple_evaluate, include paths, the TaskManager with lm-eval's own
    catalogue or None where a task file may not need it); unknown tasks and missing files
    raise HarnessError."""
    _need_lm_eval(ev)
    from lm_eval.tasks import TaskManager

    if not ev.task:
        raise HarnessError(f"eval {ev.name}: kind lm_eval needs task: NAME or task: FILE.yaml")
    extra = include_dir(ev, base_dir)
    if extra is not None and not extra.is_dir():
        raise HarnessError(f"eval {ev.name}: include_path {extra} is not a folder")
    paths = [str(extra)] if extra is not None else None
    if is_task_file(ev.task):
        path = task_path(ev, base_dir)
        if not path.is_file():
            raise HarnessError(f"eval {ev.name}: task file {path} does not exist (relative to {base_dir})")
        # lm-eval's own catalogue takes ~10 s to index: only if the file names its tasks
        return str(path), paths, None
    manager = TaskManager(include_path=paths)
    known = manager.all_tasks
    if ev.task not in known:
        close = difflib.get_close_matches(ev.task, known, n=3, cutoff=0.6)
        raise HarnessError(f"eval {ev.name}: lm-eval knows no task {ev.task!r}"
                           + (f"; did you mean {', '.join(map(repr, close))}?" if close else "")
                           + " (`lm-eval ls tasks` lists them; a file path must end .yaml)")
    return ev.task, paths, manager


def run(model, tokenizer, ev: EvalSpec, base_dir: Path) -> dict[str, Any]:
    """lm-eval's results dict for this eval (samples logged)."""
    _need_lm_eval(ev)
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    spec, paths, manager = _task_spec(ev, base_dir)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=ev.batch_size)

    def call(tasks: TaskManager) -> dict[str, Any]:
        return simple_evaluate(model=lm, tasks=[spec], task_manager=tasks, limit=ev.limit,
                               num_fewshot=ev.shots or None, apply_chat_template=bool(ev.chat),
                               log_samples=True, bootstrap_iters=BOOTSTRAP_ITERS)

    if manager is not None:
        return call(manager)
    try:
        return call(TaskManager(include_path=paths, include_defaults=False))
    except KeyError as err:
        if "not a registered" not in str(err):
            raise
        log.info("%s names tasks of lm-eval's own catalogue; indexing it", spec)
        return call(TaskManager(include_path=paths))


def evaluate(model, tokenizer, ev: EvalSpec, base_dir: Path) -> tuple[dict[str, dict], list[dict]]:
    results = run(model, tokenizer, ev, base_dir)
    scores = select(all_scores(results), ev.metrics, ev.name)
    return scores, rows_of(results, scores)


def _leaves(results: dict[str, Any], name: str) -> list[str]:
    children = results.get("group_subtasks", {}).get(name)
    return [name] if not children else [leaf for child in children for leaf in _leaves(results, child)]


def top_level(results: dict[str, Any]) -> list[str]:
    """The tasks and groups asked for: those no group lists as its member."""
    members = {m for children in results.get("group_subtasks", {}).values() for m in children}
    return [name for name in results["results"] if name not in members]


def all_scores(results: dict[str, Any]) -> dict[str, dict]:
    """Every metric of every top-level task or group, as score dicts."""
    tops = top_level(results)
    out: dict[str, dict] = {}
    for name in tops:
        entry = results["results"][name]
        n = sum(int(results.get("n-samples", {}).get(leaf, {}).get("effective", 0)) for leaf in _leaves(results, name))
        for key, value in entry.items():
            metric, sep, filt = key.partition(",")
            if not sep or metric.endswith("_stderr") or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            label = (f"{name}/" if len(tops) > 1 else "") + (metric if filt == "none" else f"{metric},{filt}")
            stderr = entry.get(f"{metric}_stderr,{filt}")
            has_stderr = isinstance(stderr, (int, float)) and not isinstance(stderr, bool) and math.isfinite(stderr)
            value = float(value)
            out[label] = {
                "value": value,
                "ci_low": value - Z95 * stderr if has_stderr else value,
                "ci_high": value + Z95 * stderr if has_stderr else value,
                "n": n,
                "stderr": float(stderr) if has_stderr else None,
                "interval": "normal, from lm-eval stderr" if has_stderr else "none: lm-eval gave no stderr",
                "task": name, "metric": metric, "filter": filt,
                "num_fewshot": results.get("n-shot", {}).get(name),
            }
    return out


def select(scores: dict[str, dict], wanted: list[str], eval_name: str) -> dict[str, dict]:
    """The scores the eval's metrics name: exactly, or by bare metric name."""
    kept: dict[str, dict] = {}
    for name in wanted:
        hits = [label for label, s in scores.items() if name in (label, s["metric"], f"{s['task']}/{s['metric']}")]
        if not hits:
            raise HarnessError(f"eval {eval_name}: lm-eval reported no metric {name!r}; it reported: "
                               f"{', '.join(sorted(scores)) or 'nothing'}. Fix the eval's metrics:")
        kept.update({label: scores[label] for label in hits})
    return kept


def rows_of(results: dict[str, Any], scores: dict[str, dict]) -> list[dict]:
    """One row per document of every leaf task, with each kept metric's per-sample value."""
    samples = results.get("samples") or {}
    leaves = [leaf for top in top_level(results) for leaf in _leaves(results, top)]
    rows: list[dict] = []
    for leaf in leaves:
        by_doc: dict[Any, dict] = {}
        for sample in samples.get(leaf, []):
            row = by_doc.get(sample["doc_id"])
            if row is None:
                prediction, target = _prediction(sample)
                row = by_doc[sample["doc_id"]] = {
                    "id": sample["doc_id"] if len(leaves) == 1 else f"{leaf}/{sample['doc_id']}",
                    "task": leaf, "prompt": _prompt(sample), "prediction": prediction,
                    "references": [target], "scores": {},
                }
            for label, s in scores.items():
                if leaf in _leaves(results, s["task"]) and s["filter"] == sample.get("filter", "none"):
                    value = sample.get(s["metric"])
                    row["scores"][label] = float(value) if isinstance(value, (int, float)) else None
        rows += by_doc.values()
    return rows


def _prompt(sample: dict) -> str:
    args = sample.get("arguments") or [[""]]
    first = args[0] if isinstance(args, list) else next(iter(args.values()))
    return str(first[0] if isinstance(first, (list, tuple)) else next(iter(first.values())))


def _prediction(sample: dict) -> tuple[str, str]:
    """(what the model chose or wrote, the target), as text where lm-eval makes that possible."""
    resps, target, args = sample.get("filtered_resps"), sample.get("target"), sample.get("arguments")
    if isinstance(resps, list) and resps and all(isinstance(r, (list, tuple)) and len(r) == 2 for r in resps):
        # multiple choice: one (log-likelihood, is_greedy) per choice, in the arguments' order
        best = max(range(len(resps)), key=lambda i: resps[i][0])
        options = [str(a[1]).strip() for a in args] if isinstance(args, list) else None
        chosen = options[best] if options else str(best)
        gold = options[target] if options and isinstance(target, int) and 0 <= target < len(options) else str(target)
        return chosen, gold
    text = resps[0] if isinstance(resps, list) and resps else resps
    return str(text), str(target)
