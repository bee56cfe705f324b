"""One variant, start to finish, in its own process: load the model, apply the method,
train, evaluate, write the record.

The executor starts `python -m harness.worker DIR` with the variant's JSON on stdin, so
every variant gets a clean process (its own peak memory, no state leaking between
variants, and a crash that takes down only itself). Any exception becomes a failed record
with the error; the traceback goes to DIR/traceback.txt.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import torch

from harness import models
from harness.data import sources
from harness.data.templates import Template, render
from harness.logs import setup_logging
from harness.environment import describe, peak_memory, reset_peak_memory
from harness.evaluate.scoring import evaluate
from harness.methods.base import ApplyContext, count_parameters
from harness.plan import Variant
from harness.registry import METHODS
from harness.results import Cost, Record, Score, write_jsonl_atomic, write_record, write_text_atomic
from harness.train import train

log = logging.getLogger("harness.worker")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_variant(variant: Variant, directory: Path) -> Record:
    base_dir = Path(variant.base_dir)
    record = variant.new_record(started_at=now())
    try:
        if variant.threads:
            torch.set_num_threads(variant.threads)
        torch.manual_seed(variant.seed)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        record.env = describe(device, base_dir)
        reset_peak_memory(device)

        method = METHODS.load(variant.method)
        params = method.parse(variant.params)
        load_kwargs = method.load_kwargs(params) if method.load_kwargs else {}
        model, tokenizer = models.load(variant.model, base_dir, **load_kwargs)
        ctx = ApplyContext(steps=variant.train.steps if variant.train else 0, device=device.type)
        applied = method.apply(model.to(device), params, ctx)
        model = applied.model
        trainable, total = count_parameters(model)
        cost = Cost(trainable_params=trainable, total_params=total)
        record.method_info = dict(applied.info)

        if method.trains and variant.train is not None:
            cfg = variant.train
            rows = sources.load_split(cfg.data, cfg.split, base_dir, limit=cfg.limit)
            template = Template(cfg.template.prompt, cfg.template.completion)
            pairs = [render(template, row, where=f"{cfg.data} row {i + 1}") for i, row in enumerate(rows)]
            result = train(applied, tokenizer, pairs, cfg, variant.seed, desc=f"train {variant.name}")
            cost.train_seconds = round(result.seconds, 3)
            cost.tokens_per_second = round(result.tokens_per_second, 1)
            record.train_curve = result.loss_curve
            record.precision = result.precision
            record.method_info["param_groups"] = result.groups
            if result.events:
                record.method_info["events"] = result.events

        start = time.perf_counter()
        for ev in variant.evals:
            scores, predictions = evaluate(model, tokenizer, ev, base_dir)
            record.metrics[ev.name] = {metric: Score.model_validate(s) for metric, s in scores.items()}
            write_jsonl_atomic(directory / "predictions" / f"{ev.name}.jsonl", predictions)
        cost.eval_seconds = round(time.perf_counter() - start, 3)
        cost.peak_memory_bytes, cost.peak_memory_source = peak_memory(device)
        record.cost = cost
        record.status = "ok"
    except Exception as err:  # the record says what failed; the run goes on with other variants
        record.error = f"{type(err).__name__}: {err}"
        write_text_atomic(directory / "traceback.txt", traceback.format_exc())
        log.error("%s failed: %s (traceback in %s)", variant.label(), record.error, directory / "traceback.txt")
    record.finished_at = now()
    write_record(directory, record)
    return record


def main() -> int:
    setup_logging()
    directory = Path(sys.argv[1])
    variant = Variant.model_validate_json(sys.stdin.read())
    try:
        record = run_variant(variant, directory)
    except KeyboardInterrupt:  # the parent was interrupted too and says so
        return 130
    return 0 if record.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
