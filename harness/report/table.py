"""Records -> the leaderboard table: one row per variant, seeds folded, best and ties marked.

Every format (html, md, csv, json) renders this one Table, built from the records alone
(harness.records.store), so a page can be rebuilt anywhere; no torch is imported.

* Columns: each eval's metrics (in the suite's order), then forgetting (each retention
  eval's change from the base model, and the drift probe's KL estimate), then costs. An
  eval written with several templates (scored as NAME@1, NAME@2...) gets a "templates"
  column per metric before them: the mean across its templates ± their standard deviation
  (harness/report/sensitivity.py).
* A row is one (model, name): its runs are the seeds. With one seed a cell carries that
  record's 95% interval and paired comparisons; with several it is the mean, with the
  sample standard deviation across seeds (the runs keep their own intervals).
* best: the best mean of the column within the model (direction from the metric's registry
  entry). tied: a metric cell whose runs all stand within ALPHA of the best run by their
  stored paired test (`vs_best`, written by harness/analysis/compare.py), i.e. not significantly worse.
  Cost and forgetting columns mark the best among tuned variants (the baseline trains nothing).
* Rows: per model, the baselines first (zero-shot, then by the number of in-context
  examples), then the tuned variants best first, then failed ones.
* Of several records of one (model, name, seed) the newest is shown (older ones come from an
  earlier version of the suite) and the rest are counted in the notes.
To add a column kind, add its Column in `_columns` and its value in `_run_cells`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, TypeVar

import yaml

from harness.errors import HarnessError
from harness.records.newest import newest
from harness.records.schema import Record
from harness.records.store import SUITE_COPY, readable_records
from harness.registry import METRICS
from harness.report import prompting, sensitivity
from harness.report.rows import ALPHA, COSTS, Cell, Column, Row, Run, Table

__all__ = ["ALPHA", "COSTS", "Cell", "Column", "Row", "Run", "Table", "build_table", "summary"]

T = TypeVar("T")

def build_table(suite_dir: Path) -> Table:
    """The table of one results/<suite> folder (ok and failed records alike)."""
    suite_dir = Path(suite_dir)
    unread: list[str] = []
    found = readable_records(suite_dir, unread)
    notes = list(unread)
    records = _newest(found, notes)
    if not records:
        raise HarnessError(f"{suite_dir}: no readable records (expected <variant_id>/record.json under it)")
    templated = sensitivity.groups(records)
    columns = _columns(records, notes, templated)
    rows = _rows(records, columns)
    for model in {r.model for r in rows}:
        _mark(columns, [r for r in rows if r.model == model])
    primary = next((c.key for c in columns if c.kind == "metric"), None)
    models = list(dict.fromkeys(r.model for r in records))
    rows = sorted(rows, key=lambda r: _rank(r, primary, columns, models))
    if any(c.kind == "metric" for c in columns) and not any(
            run.vs_best for row in rows for run in row.runs if run.status == "ok"):
        notes.append("no record carries paired comparisons (vs_best), so no ties are marked: "
                     "`harness score` computes them from the saved predictions")
    for row in rows:
        for run in row.runs:
            for ev, hit in run.contamination.items():
                notes.append(f"{row.name} (seed {run.seed}): {hit.get('count')} of {hit.get('n')} examples of eval "
                             f"{ev} also appear in its training data; its scores there may be inflated")
            for ev, empty in run.empty_predictions.items():
                count, n = empty.get("count", 0), empty.get("n", 0)  # a record edited by hand may lack either
                if n and count * 2 > n:
                    notes.append(f"{row.name} (seed {run.seed}): {count} of {n} predictions of eval {ev} "
                                 "are empty: its scores there are those of no answer at all (open its predictions)")
            label = row.name if len(row.runs) == 1 else f"{row.name} (seed {run.seed})"
            notes += prompting.shot_notes(label, run.method_info)
    suite_text = _suite_copy(suite_dir / SUITE_COPY, notes)
    first = records[0]
    return Table(
        suite=first.suite, suite_dir=str(suite_dir), description=_description(suite_text),
        models=models, columns=columns, rows=rows, primary=primary,
        notes=notes, suite_text=suite_text, first_spec=first.spec, templates=templated, unread=unread,
    )


def summary(table: Table) -> str:
    """One sentence: how many variants, on what, how many failed, ranked by what."""
    rows = table.rows
    tuned = [r for r in rows if not r.is_baseline]
    ok = sum(r.status == "ok" for r in rows)
    seeds = sorted({len(r.runs) for r in tuned}) or [1]
    base = "the baseline" if len(rows) - len(tuned) == 1 else f"{len(rows) - len(tuned)} baselines"
    text = (f"{len(rows)} variants ({len(tuned)} tuned and {base}) on {', '.join(table.models)}: "
            f"{ok} ok, {len(rows) - ok} failed; {'/'.join(map(str, seeds))} seed(s) each.")
    if table.primary:
        col = table.column(table.primary)
        text += f" Ranked by {col.group} {col.label}."
    return text


def _suite_copy(path: Path, notes: list[str]) -> str | None:
    """The suite file as `harness run` kept it beside the records, if it is there and readable."""
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        notes.append(f"{path}: the suite's copy cannot be read ({err}); the page shows the first record's resolved spec")
        return None


def _description(suite_text: str | None) -> str:
    try:
        raw = yaml.safe_load(suite_text or "")
    except (yaml.YAMLError, RecursionError):  # a damaged copy: the description is only shown
        return ""
    description = raw.get("description") if isinstance(raw, dict) else None
    return description if isinstance(description, str) else ""  # a damaged copy's other values are not text


def _newest(found: list[tuple[Path, Record]], notes: list[str]) -> list[Record]:
    """One record per (model, name, seed): the newest. Baselines first, then by variant id."""
    current, stale = newest(found)
    if stale:
        notes.append(f"{len(stale)} older record(s) of the same variants (an earlier version of the suite) are not shown")
    return sorted((r for _, r in current), key=lambda r: (r.method != "baseline", r.variant_id))


def _eval_order(records: list[Record]) -> list[tuple[str, list[str], bool]]:
    """(eval, metrics, retention) in the suite's order, from the specs, then any eval only scored."""
    order: dict[str, tuple[list[str], bool]] = {}
    for record in records:
        for ev in record.spec.get("evals", []):
            if isinstance(ev, dict) and ev.get("name") and ev["name"] not in order:
                order[ev["name"]] = (list(ev.get("metrics") or []), bool(ev.get("retention")))
    for record in records:
        for ev, scores in record.metrics.items():
            metrics, retention = order.setdefault(ev, ([], False))
            metrics += [m for m in scores if m not in metrics]
    return [(ev, metrics, retention) for ev, (metrics, retention) in order.items()]


def _metric_meta(metric: str) -> tuple[bool | None, str, str]:
    if metric in METRICS:
        entry = METRICS.get(metric)
        return entry.meta.get("higher_is_better"), entry.meta.get("scale", ""), entry.help
    return None, "", f"{metric} (not a registered metric: its direction is unknown, so nothing is marked best)"


def _columns(records: list[Record], notes: list[str], templated: dict[str, dict[str, Any]]) -> list[Column]:
    scored = {(ev, m) for r in records for ev, scores in r.metrics.items() for m in scores}
    metric_cols: list[Column] = []
    forgetting_cols = []
    for ev, metrics, retention in _eval_order(records):
        for m in metrics:
            if (ev, m) not in scored:
                continue
            higher, scale, help_text = _metric_meta(m)
            metric_cols.append(Column(f"metric:{ev}/{m}", "metric", ev, m, help_text, higher, scale, ev, m, retention))
            if retention:
                forgetting_cols.append(Column(
                    f"forgetting:{ev}/{m}", "forgetting", "forgetting", f"{ev} {m} Δ",
                    f"retention check: change of {m} on {ev} from the base model (negative: forgotten), "
                    "with its paired 95% interval", True if higher is None else higher, "delta", ev, m))
    metric_cols = _with_template_means(metric_cols, templated)
    unknown = sorted({c.metric for c in metric_cols if c.higher_is_better is None and c.metric is not None})
    if unknown:
        notes.append(f"no direction known for {', '.join(unknown)}: nothing is marked best in those columns")
    cols = metric_cols + forgetting_cols
    if any(r.drift for r in records):
        cols.append(Column("drift", "drift", "forgetting", "drift KL",
                           "drift probe: KL(base || tuned) per token in nats, estimated on samples of the base "
                           "model (0 for the base model itself)", False, "nats"))
    for name, label, unit, higher, help_text in COSTS:
        if any(getattr(r.cost, name) is not None for r in records):
            if name == "peak_memory_bytes":
                label, help_text = _memory_header(records, label, help_text)
            cols.append(Column(f"cost:{name}", "cost", "cost", label, help_text, higher, unit))
    return cols


# What a peak memory figure measured (Cost.peak_memory_source), for the column's header.
MEMORY_SOURCES = {"rss": ("peak RSS", "the process's peak resident set on the CPU: the model, training and evaluation, "
                                     "and also the interpreter, the libraries and what the allocator keeps after freeing "
                                     "(while training, freed blocks over glibc's mmap threshold, 1 MiB unless "
                                     "HARNESS_MMAP_THRESHOLD says otherwise, are returned at once: harness/train/allocator.py)"),
                  "cuda": ("peak GPU alloc", "torch's peak of allocated GPU memory (max_memory_allocated); the allocator's "
                                            "reserve and the CUDA context come on top")}


def _memory_header(records: list[Record], label: str, help_text: str) -> tuple[str, str]:
    """'peak RSS' (a CPU's resident set) or 'peak GPU alloc' (torch's allocations): the header
    says what the figures measure; records measured both ways say so (they do not compare)."""
    sources = sorted({r.cost.peak_memory_source for r in records if r.cost.peak_memory_bytes is not None
                      and r.cost.peak_memory_source in MEMORY_SOURCES})
    if len(sources) == 1:
        short, long = MEMORY_SOURCES[sources[0]]
        return short, f"{label}: {long}"
    if len(sources) > 1:
        return f"{label} (RSS + GPU)", help_text + "; these records mix both, which do not compare"
    return label, help_text


def _with_template_means(metric_cols: list[Column], templated: dict[str, dict[str, Any]]) -> list[Column]:
    """The metric columns with, before the first column of each templated eval's templates,
    one "templates" column per metric: the mean across them, ± their spread."""
    out: list[Column] = []
    for col in metric_cols:
        for name, group in templated.items():
            if col.eval in group["evals"] and not any(c.kind == "templates" and c.eval == name for c in out):
                for m in group["metrics"]:
                    higher, scale, _ = _metric_meta(m)
                    out.append(Column(
                        f"templates:{name}/{m}", "templates", name, m,
                        f"{m} averaged over the {len(group['evals'])} templates of {name} ({', '.join(group['evals'])}), "
                        "± their standard deviation: how much the score depends on the prompt's wording",
                        higher, scale, name, m, col.retention, len(group["evals"])))
        out.append(col)
    return out


def _run_cells(record: Record, columns: list[Column]) -> tuple[dict[str, Cell], dict[str, dict[str, Any]]]:
    cells: dict[str, Cell] = {}
    vs_best: dict[str, dict[str, Any]] = {}
    for col in columns:
        if col.kind == "metric":
            score = _entry(record.metrics, col)
            if score is None:
                continue
            extra = score.model_extra or {}
            best = extra.get("vs_best")
            if isinstance(best, dict):
                vs_best[col.key] = best
            cells[col.key] = Cell(score.value, score.ci_low, score.ci_high, n=score.n,
                                  vs_baseline=extra.get("vs_baseline"),
                                  vs_strongest_baseline=extra.get("vs_strongest_baseline"),
                                  p_vs_best=best.get("p_value") if isinstance(best, dict) else None)
        elif col.kind == "templates":
            stats = sensitivity.stats(record, col.eval, col.metric)
            if stats is not None:
                cells[col.key] = Cell(stats["mean"], std=stats["std"], lowest=stats["min"], highest=stats["max"],
                                      per_template=stats["values"])
        elif col.kind == "forgetting":
            f = _entry(record.forgetting, col)
            if f is not None:
                cells[col.key] = Cell(f["delta"], f.get("ci_low"), f.get("ci_high"), p_value=f.get("p_value"))
        elif col.kind == "drift":
            d = record.drift
            if d and d.get("value") is not None:
                cells[col.key] = Cell(d["value"], d.get("ci_low"), d.get("ci_high"), n=d.get("n"))
        else:
            name = col.key.split(":", 1)[1]
            value = getattr(record.cost, name)
            if value is not None:
                share = None
                if name == "trainable_params" and record.cost.total_params:
                    share = 100.0 * value / record.cost.total_params
                cells[col.key] = Cell(float(value), share=share)
    return cells, vs_best


def _entry(by_eval: dict[str, dict[str, T]], col: Column) -> T | None:
    """A metric or forgetting column's entry in a record's eval -> metric -> entry mapping."""
    if col.eval is None or col.metric is None:
        return None
    return by_eval.get(col.eval, {}).get(col.metric)


def _rows(records: list[Record], columns: list[Column]) -> list[Row]:
    grouped: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for record in records:
        grouped[(record.model, record.name)].append(record)
    rows = []
    for (model, name), group in grouped.items():
        runs = []
        for record in sorted(group, key=lambda r: r.seed):
            cells, vs_best = _run_cells(record, columns) if record.status == "ok" else ({}, {})
            runs.append(Run(record.variant_id, record.seed, record.status, record.error, cells,
                            [(step, loss) for step, loss in record.train_curve], record.contamination,
                            record.empty_predictions, record.started_at,
                            record.finished_at, vs_best, record.env, record.search, record.method_info, record.spec,
                            preference_curve=list(record.preference_curve)))
        row = Row(f"{model}/{name}", name, model, group[0].method, group[0].params, runs)
        row.cells = {c.key: cell for c in columns
                     if (cell := _fold([r.cells.get(c.key) for r in runs], c.kind)) is not None}
        rows.append(row)
    return rows


def _fold(cells: list[Cell | None], kind: str = "metric") -> Cell | None:
    """Seeds -> one cell: a single run's cell as it is; several: the mean and the std.
    A templates cell keeps its spread across templates: each figure the mean over seeds."""
    present = [c for c in cells if c is not None and c.value is not None]
    if not present:
        return None
    if len(present) == 1:
        return Cell(**{**present[0].__dict__})
    if kind == "templates":
        folded = sensitivity.fold([{"mean": c.value, "std": c.std, "min": c.lowest, "max": c.highest,
                                    "values": c.per_template} for c in present])
        return Cell(folded["mean"], std=folded["std"], n_seeds=len(present), lowest=folded["min"],
                    highest=folded["max"], per_template=folded["values"])
    values = [c.value for c in present]
    shares = [c.share for c in present if c.share is not None]
    return Cell(statistics.fmean(values), std=statistics.stdev(values), n_seeds=len(values), n=present[0].n,
                share=statistics.fmean(shares) if shares else None)


def _mark(columns: list[Column], rows: list[Row]) -> None:
    """best and tied, within the rows of one model."""
    for col in columns:
        if col.higher_is_better is None:
            continue
        # Costs, forgetting and drift compare what training did: the baseline did none.
        candidates = [r for r in rows if col.key in r.cells and (col.kind in ("metric", "templates") or not r.is_baseline)]
        sign = 1.0 if col.higher_is_better else -1.0
        # KL is never negative: a negative drift estimate is noise around 0, so the closest to 0 wins
        goodness = (lambda c: -abs(c.value)) if col.kind == "drift" else (lambda c: sign * c.value)
        values = [goodness(r.cells[col.key]) for r in candidates]
        if not values or min(values) == max(values):
            continue  # a column of equal values has no best
        # compare.py gives every run but the best one a vs_best that names the best
        best_names = {run.vs_best[col.key].get("best") for r in rows for run in r.runs if col.key in run.vs_best}
        for row, value in zip(candidates, values):
            cell = row.cells[col.key]
            cell.best = value == max(values)
            if col.kind == "metric" and not cell.best:
                cell.tied = _tied(row, col.key, best_names)


def _tied(row: Row, key: str, best_names: set[str | None]) -> bool:
    """Every scored run of the row is the best run itself, or not significantly worse than it."""
    scored = [run for run in row.runs if key in run.cells]
    for run in scored:
        test = run.vs_best.get(key)
        if test is None:
            if row.name not in best_names:
                return False  # no comparison stored: no claim
        elif test.get("p_value") is None or test["p_value"] < ALPHA:
            return False
    return bool(scored)


def _rank(row: Row, primary: str | None, columns: list[Column], models: list[str]) -> tuple:
    """Per model: the baselines (zero-shot, then by k shots), then by the primary metric (best
    first), then failed rows."""
    model_order = models.index(row.model)
    if row.is_baseline:
        return (model_order, 0, float(row.shots), row.name)
    cell = row.cells.get(primary) if primary else None
    if cell is None:
        return (model_order, 2, 0.0, row.name)
    higher = next(c.higher_is_better for c in columns if c.key == primary)
    return (model_order, 1, -cell.value if higher is not False else cell.value, row.name)
