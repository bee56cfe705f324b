"""One variant, start to finish, in its own process: load the model, apply the method,
train, evaluate, write the record.

The executor writes the variant to DIR/variant.json and starts `python -m
harness.run.worker DIR` (harness/run/launch.py), so every variant gets a clean process (its
own peak memory, no state leaking between variants, and a crash that takes down only
itself); the same command reruns it by hand. A variant with resources.gpus > 1 runs as that
many processes under torchrun, one per GPU: every rank trains (harness/train/parallel.py)
and evaluates (under DDP each rank runs its share of the batches:
harness/evaluate/shards.py), and rank 0 writes the record and predictions. Any exception
becomes a failed record with the error; the traceback goes to DIR/traceback.txt. With
checkpoint_every, training resumes from DIR/checkpoints when the variant runs again after a
kill (harness/train/checkpoint.py); they are removed once the ok record is written.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import torch

from harness import models
from harness.data.sources import load_split
from harness.errors import HarnessError
from harness.evaluate import drift, shards
from harness.evaluate import shots as in_context
from harness.evaluate.contamination import contaminated, training_values
from harness.evaluate.scoring import before_tuning, evaluate
from harness.logs import setup_logging
from harness.methods.base import ApplyContext, count_parameters
from harness.models.family import eval_kinds
from harness.models.precision import bf16_supported
from harness.records.predictions import write_predictions
from harness.records.schema import Cost, Record, Score
from harness.records.store import write_record, write_text_atomic
from harness.registry import EVAL_KINDS, METHODS
from harness.run import memory, orphan, peak, progress
from harness.run.environment import current_memory, describe, peak_memory, reset_peak_memory
from harness.run.launch import VARIANT_FILE
from harness.run.outcome import new_record
from harness.run.search import run_search
from harness.suite.schema import TEMPLATE_MARK
from harness.suite.variant import Variant
from harness.train import budget, checkpoint, flops
from harness.train.loop import TrainResult, train
from harness.train.optimizers import dtype_name
from harness.train.trainset import stage_check, stage_labels, stage_sources

log = logging.getLogger("harness.run.worker")
RANK_EXIT_GRACE_SECONDS = 5


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def this_device() -> torch.device:
    """The GPU of this rank (torchrun's LOCAL_RANK among the visible ones), else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def load_dtype_of(variant: Variant, device: torch.device) -> torch.dtype:
    """The dtype weights load in: the suite's load_dtype. auto is bf16 on a GPU that has it when
    the method leaves the weights frozen (adapters, a probe's head: peft keeps its adapters in
    fp32), and fp32 otherwise: weights the optimizer updates stay fp32 under bf16 autocast, as
    mixed-precision training keeps them, and a CPU computes in fp32 for the reference scores."""
    name = variant.load_dtype
    if name == "auto":
        frozen = METHODS.meta(variant.method, "trains", "all") != "all"
        name = "bf16" if device.type == "cuda" and bf16_supported(device) and frozen else "fp32"
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def run_variant(variant: Variant, directory: Path) -> Record:
    base_dir = Path(variant.base_dir)
    record = new_record(variant, started_at=now())
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    try:
        # the suite's pinned threads, else this child's share of the cores (harness/run/slots.py)
        threads = variant.threads or int(os.environ.get("HARNESS_THREADS") or 0)
        if threads:
            # CPU ranks of one variant share its cores
            torch.set_num_threads(max(1, threads // world) if world > 1 and not torch.cuda.is_available() else threads)
        torch.manual_seed(variant.seed)
        device = this_device()
        record.env = {**describe(device, base_dir), "threads": torch.get_num_threads(),
                      "trust_remote_code": variant.trust_remote_code,
                      "slot": os.environ.get("HARNESS_SLOT"), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
        strategy = (variant.distributed.strategy if variant.distributed else "ddp") if world > 1 else None
        if strategy in ("fsdp", "deepspeed") and any(st.save or st.select_best for st in variant.stages):
            raise HarnessError(f"save and select_best need the whole weights in one process; strategy {strategy} "
                               "shards them: use strategy ddp, or leave them out")
        if world > 1 and any(st.checkpoint_every for st in variant.stages):
            raise HarnessError("checkpoint_every resumes training in one process only (each of several has random "
                               "states of its own): leave it out for resources.gpus > 1")
        if world > 1 and not torch.distributed.is_initialized():  # accelerate joins this group when training
            torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        record.parallel = {"world_size": world, "strategy": strategy,
                           "backend": ("nccl" if device.type == "cuda" else "gloo") if world > 1 else None}
        reset_peak_memory(device)
        before_load = current_memory(device)  # a CPU process's own share of every peak below

        method = METHODS.load(variant.method)
        params = method.parse(variant.params)
        dtype = load_dtype_of(variant, device)
        family = models.family(variant.model, base_dir, variant.trust_remote_code, variant.model_commit)
        labels = variant_labels(variant, base_dir, family)
        model, tokenizer = load_model(variant, method, params, device, dtype, family, labels)
        variant = resolve_chat(variant, tokenizer)
        record.spec = {**record.spec, "stages": [st.model_dump(mode="json") for st in variant.stages],
                       "evals": [e.model_dump(mode="json") for e in variant.evals]}
        record.dtypes = {"weights": dtype_name(dtype), "compute": variant.eval_dtype}
        trained = method.trains and bool(variant.stages)
        data = [stage_sources(cfg, tokenizer, base_dir, labels if cfg.label else None, family)
                for cfg in variant.stages] if trained else []
        # Budgets of tokens are steps once the data is read; FLOPs need the trainable count (below).
        budgets = [budget.derive(cfg, budget.lengths(srcs)) if cfg.budget and cfg.budget.kind != "flops" else None
                   for cfg, srcs in zip(variant.stages, data)]
        variant = with_steps(variant, budgets)
        if trained and variant.search is not None:
            del model  # each short run loads its own; the variant's model is loaded again after
            if rank == 0:
                progress.write_progress(directory, {"phase": "search"})

            def build(steps: int):
                fresh, tok = load_model(variant, method, params, device, dtype, family, labels)
                return method.apply(fresh, params, ApplyContext(steps=steps, device=device.type, labels=labels, family=family)), tok

            stage, record.search = run_search(
                variant.search, variant.stages[0], data[0], build, base_dir, variant.seed, labels if variant.stages[0].label else None,
                family, {"gpu_optimizer": method.gpu_optimizer, "distributed": variant.distributed.model_dump() if variant.distributed else None})
            variant = variant.model_copy(update={"stages": [stage]})
            model, _ = load_model(variant, method, params, device, dtype, family, labels)
        # The drift probe's samples come from the model as loaded, before any method touches it.
        samples = None
        if variant.drift_probe and family == "causal":
            samples = drift.draw(model, tokenizer, variant.drift_probe)
        elif variant.drift_probe:
            log.info("%s: the drift probe samples a decoder's own text; a %s model has none, so it is skipped",
                     variant.label(), family)
        before = scores_before_tuning(variant, model, tokenizer, family, device)
        ctx = ApplyContext(steps=sum(st.steps for st in variant.stages), device=device.type, labels=labels, family=family)
        applied = method.apply(model, params, ctx)
        model = applied.model
        trainable, total = count_parameters(model, [p for g in applied.param_groups or [] for p in g.params])
        cost = Cost(trainable_params=trainable, total_params=total)
        if before_load is not None:
            cost.memory_parts["before_load"] = before_load
        record.method_info = dict(applied.info)
        if trained:
            budgets = [b or (budget.derive(cfg, budget.lengths(srcs), total, trainable, flops.shape(model)) if cfg.budget else None)
                       for b, cfg, srcs in zip(budgets, variant.stages, data)]
            fixed = applied.lr_lambda is not None or applied.on_step is not None
            if fixed and any(b and (b.steps is None or b.steps != cfg.steps) for b, cfg in zip(budgets, variant.stages)):
                raise HarnessError(f"{variant.name}: its schedule (slanted triangular rates, gradual unfreezing) is set "
                                   "by the step count before training; a seconds or flops budget decides that count only "
                                   "later: give it a tokens or steps budget")
            variant = with_steps(variant, budgets)
            train_stages(variant, applied, tokenizer, record, cost, data, budgets, labels, family, method.gpu_optimizer,
                         directory)
            if any(st.save for st in variant.stages) and rank == 0:
                cost.saved_bytes = save_weights(model, tokenizer, directory / "weights", variant, family)
            # the peak of training alone; evaluation's is measured from here on
            cost.memory_parts["peak_train"] = peak_memory(device)[0] or 0
            reset_peak_memory(device)
        if strategy == "ddp" or (world > 1 and not trained):  # every rank holds the whole model: split the batches
            shards.split_across(rank, world)

        start = time.perf_counter()
        if rank == 0:
            progress.write_progress(directory, {"phase": "evaluate"})
        evaluate_all(variant, model, tokenizer, record, directory, device, write=rank == 0, before=before)
        record.templates = template_spread(variant, record)
        shards.split_across(0, 1)  # the drift probe's samples are each rank's own: scored whole
        if samples is not None:
            # a probe's base is the untouched model: its drift is zero by construction
            record.drift = drift.drift(getattr(model, "base", model) if hasattr(model, "labels") else model, tokenizer, samples)
        cost.eval_seconds = round(time.perf_counter() - start, 3)
        peak_eval, cost.peak_memory_source = peak_memory(device)
        if "peak_train" in cost.memory_parts and peak_eval is not None:
            cost.memory_parts["peak_eval"] = peak_eval
        cost.peak_memory_bytes = max(peak_eval or 0, cost.memory_parts.get("peak_train", 0)) or peak_eval
        planned = memory.estimate(variant)
        if planned is not None:
            cost.memory_estimate_bytes, cost.memory_estimate_source = planned.bytes, planned.source
            cost.memory_estimate_parts = dict(planned.parts)
        record.cost = cost
        record.status = "ok"
    except Exception as err:  # the record says what failed; the run goes on with other variants
        orphan.stop_if_abandoned()  # the run is gone (the error may be its broken pipe): no record, a rerun redoes it
        record.error = f"{type(err).__name__}: {err}" + (f" (rank {rank} of {world})" if world > 1 else "")
        write_text_atomic(directory / ("traceback.txt" if rank == 0 else f"traceback-rank{rank}.txt"), traceback.format_exc())
        log.error("%s failed: %s (traceback in %s)", variant.label(), record.error, directory / "traceback.txt")
        if rank > 0:
            # torchrun ends the other ranks once one exits with an error. Rank 0 often failed the
            # same way (a setting every rank checks): give it the moment it needs to write its
            # record; one blocked waiting on this rank is ended, and the executor records how.
            time.sleep(RANK_EXIT_GRACE_SECONDS)
            raise SystemExit(1) from None
    record.finished_at = now()
    if rank == 0:
        write_record(directory, record)
        if record.status == "ok" and not any(st.keep_checkpoints for st in variant.stages):
            checkpoint.remove(directory)  # the record is written: nothing is left to resume
    return record



def variant_labels(variant: Variant, base_dir: Path, family: str) -> tuple[str, ...] | None:
    """The classes a classifier predicts: its training stages' label set; for an encoder
    that does not train on labels (the baseline, an untrained head), its classification eval's."""
    labels = next((ls for st in variant.stages if (ls := stage_labels(st, base_dir))), None)
    if family != "encoder":
        return labels
    unlabelled = [i for i, st in enumerate(variant.stages) if st.label is None]
    if unlabelled:
        raise HarnessError(f"model {variant.model!r} is an encoder, trained as a classifier: training stage "
                           f"{unlabelled[0] + 1} needs train.label (the column holding the class)")
    if labels is None:
        ev = next((e for e in variant.evals if e.label), None)  # a classification eval names its gold column
        if ev is not None:
            gold = {str(row.get(ev.label)) for row in load_split(ev.data, ev.split, base_dir, limit=ev.limit)}
            labels = tuple(ev.labels or sorted(gold))
    return labels


def load_model(variant: Variant, method, params, device: torch.device, dtype: torch.dtype, family: str, labels):
    """(model, tokenizer) as loaded, on the device, in the load dtype (quantized weights as they are)."""
    load_kwargs = {"dtype": dtype, **(method.load_kwargs(params) if method.load_kwargs else {})}
    model, tokenizer = models.load(variant.model, Path(variant.base_dir), labels=labels if family == "encoder" else None,
                                   trust_remote_code=variant.trust_remote_code, revision=variant.model_commit,
                                   **load_kwargs)
    model = model.to(device)
    if getattr(model, "hf_quantizer", None) is None:  # a built-in model is built in fp32; quantized weights stay as they are
        model = model.to(dtype)
    return model, tokenizer


def resolve_chat(variant: Variant, tokenizer) -> Variant:
    """The chat settings the plan could not know (a hub model not yet downloaded): whether
    this tokenizer has a chat template. Evals without a default of their own stay plain."""
    has = bool(getattr(tokenizer, "chat_template", None))
    stages = [st.model_copy(update={"chat": has}) if st.chat is None else st for st in variant.stages]
    evals = [e.model_copy(update={"chat": has}) if e.chat is None else e for e in variant.evals]
    return variant.model_copy(update={"stages": stages, "evals": evals})


def scores_before_tuning(variant: Variant, model, tokenizer, family: str, device) -> dict[str, object]:
    """What evals of kinds that compare with the untuned model (meta before_tuning: a
    preference eval's rewards) score on the model as loaded, by eval name."""
    out: dict[str, object] = {}
    for ev in variant.evals:
        if EVAL_KINDS.meta(ev.kind, "before_tuning") and ev.kind in eval_kinds(family):
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=variant.eval_dtype == "bf16"):
                out[ev.name] = before_tuning(model, tokenizer, ev, Path(variant.base_dir))
    return out


def evaluate_all(variant: Variant, model, tokenizer, record: Record, directory: Path, device, write: bool = True,
                 before: dict[str, object] | None = None) -> None:
    """Every eval (under bf16 autocast if eval_dtype says so), its predictions saved (unless
    `write` is off: a rank other than 0), and how many of its examples the training data
    contains. `before`: scores_before_tuning's, for the evals that compare with the untuned model."""
    base_dir = Path(variant.base_dir)
    seen = training_values(variant.stages, base_dir) if variant.stages else set()
    examples = in_context.draw(variant.shots, base_dir) if variant.shots else None
    if variant.shots:
        record.method_info["shots"] = {"k": variant.shots.k, "data": variant.shots.data, "split": variant.shots.split,
                                       "seed": variant.shots.seed, "evals": {}}
    bf16 = variant.eval_dtype == "bf16"
    family = models.family(variant.model, base_dir, variant.trust_remote_code, variant.model_commit)
    for ev in variant.evals:
        if ev.kind not in eval_kinds(family):
            raise HarnessError(f"eval {ev.name!r} is {ev.kind}, which a {family} model cannot be scored by; "
                               f"its evals are {' or '.join(eval_kinds(family))}")
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            scores, predictions = evaluate(model, tokenizer, ev, base_dir, shots=examples,
                                           **({"before": before[ev.name]} if before and ev.name in before else {}))
        if examples and all("shots" in row for row in predictions):  # how many examples each prompt kept
            kept = [row["shots"] for row in predictions]
            record.method_info["shots"]["evals"][ev.name] = {"min": min(kept, default=0),
                                                             "fewer": sum(1 for n in kept if n < len(examples))}
        record.metrics[ev.name] = {m: Score.model_validate({**s, "eval_dtype": variant.eval_dtype}) for m, s in scores.items()}
        if write:
            write_predictions(directory, ev.name, predictions)
        if EVAL_KINDS.meta(ev.kind, "rescore") == "text":  # free-text answers: count the empty ones
            empty = sum(1 for row in predictions if not str(row.get("prediction", "")).strip())
            record.empty_predictions[ev.name] = {"count": empty, "n": len(predictions)}
        if seen and not EVAL_KINDS.meta(ev.kind, "own_metrics"):  # an lm-eval task's data is lm-eval's
            rows = load_split(ev.data, ev.split, base_dir, limit=ev.limit) if not ev.data.startswith("mmlu:") else []
            hits = contaminated(rows, seen)
            if hits:
                record.contamination[ev.name] = {"count": len(hits), "n": len(rows), "ids": hits[:20]}
                log.warning("%s: %d of %d examples of eval %s also appear in the training data",
                            variant.label(), len(hits), len(rows), ev.name)


def with_steps(variant: Variant, budgets: list[budget.Derived | None]) -> Variant:
    """The variant with each stage's steps as its budget derived them."""
    stages = [cfg.model_copy(update={"steps": b.steps}) if b is not None and b.steps is not None else cfg
              for cfg, b in zip(variant.stages, budgets)]
    return variant.model_copy(update={"stages": stages})


def template_spread(variant: Variant, record: Record) -> dict[str, dict]:
    """Per eval written with several templates: each template's scores, their mean and spread."""
    groups: dict[str, list] = {}
    for ev in variant.evals:
        base, mark, _ = ev.name.rpartition(TEMPLATE_MARK)
        if mark and ev.name in record.metrics:
            groups.setdefault(base, []).append(ev)
    out = {}
    for base, evs in groups.items():
        metrics = {}
        for metric in record.metrics[evs[0].name]:
            values = [record.metrics[e.name][metric].value for e in evs if metric in record.metrics[e.name]]
            metrics[metric] = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                               "min": min(values), "max": max(values), "values": values}
        out[base] = {"evals": [e.name for e in evs], "prompts": [getattr(e.template, "prompt", "") for e in evs],
                     "metrics": metrics}
    return out


def train_stages(variant: Variant, applied, tokenizer, record: Record, cost: Cost, data: list, budgets: list,
                 labels, family: str, gpu_optimizer: str | None = None, directory: Path | None = None) -> None:
    """Each stage in order on the same model (`data`: its encoded sources); step numbers run
    on across stages."""
    base_dir, offset, tokens, seconds = Path(variant.base_dir), 0, 0, 0.0
    stages_info = []
    # Model FLOPs (train/flops.py, the count a flops budget uses) and what the device could have
    # done meanwhile: its peak in each stage's compute dtype, times the processes, times seconds.
    shape, device = flops.shape(applied.model), next(applied.model.parameters()).device
    world = record.parallel.get("world_size") or 1
    train_flops, examples, peak_sources = 0.0, 0, []
    possible: float | None = 0.0  # None once a stage ran where no peak is known: MFU unknown
    total_steps = sum(st.steps for st in variant.stages)
    reporter = progress.Reporter(directory, total_steps) if directory is not None else None
    distributed = variant.distributed.model_dump() if variant.distributed else None
    saver = checkpoint.for_variant(variant, directory, world)
    for i, (cfg, sources, derived) in enumerate(zip(variant.stages, data, budgets)):
        desc = f"train {variant.name}" + (f" stage {i + 1}/{len(variant.stages)}" if len(variant.stages) > 1 else "")
        finished = saver.done_before(i) if saver is not None else None
        if finished is not None:  # the checkpoint resumed from is of a later stage: this one's result is in it
            result = TrainResult(**finished)
        else:
            if saver is not None:
                saver.stage = i
            check = stage_check(cfg, applied.model, tokenizer, base_dir, labels if cfg.label else None, family)
            result = train(applied, tokenizer, sources, cfg, variant.seed, desc, step_offset=offset, check=check,
                           gpu_optimizer=gpu_optimizer, distributed=distributed, progress=reporter, checkpoints=saver)
            if saver is not None:
                saver.finish(result)
        offset += result.steps
        tokens += result.tokens
        seconds += result.seconds
        record.train_curve += result.loss_curve
        record.validation_curve += result.validation_curve
        record.preference_curve += result.preference_curve
        record.precision = result.precision
        record.dtypes.update(compute=result.precision, optimizer=result.optimizer, optimizer_state=result.optimizer_state)
        stage_examples = result.steps * cfg.batch_size * cfg.grad_accum
        examples += stage_examples
        if cost.total_params is not None and cost.trainable_params is not None:
            train_flops += result.tokens * flops.per_token(cost.total_params, cost.trainable_params, shape,
                                                           result.tokens / stage_examples if stage_examples else None)
        # Without autocast, weights held in bf16 or fp16 make that the dtype their products run in.
        weights = record.dtypes.get("weights")
        dtype = weights if result.precision == "fp32" and weights in ("bf16", "fp16") else result.precision
        try:
            found = peak.peak(device, dtype)
        except (OSError, RuntimeError) as err:  # a cost figure is not worth the variant
            log.warning("%s: no peak FLOP/s for MFU: %s", variant.label(), err)
            found = None
        possible = possible + found.flops * world * result.seconds if found and possible is not None else None
        if found and found.source not in peak_sources:
            peak_sources.append(found.source)
        stages_info.append({
            "steps": result.steps, "data": [s.name for s in sources], "param_groups": result.groups,
            **({"budget": derived.record()} if derived is not None else {}),
            **({"events": result.events} if result.events else {}),
            **({"best_step": result.best_step} if result.best_step is not None else {}),
            **({"objective": cfg.objective, "loss_type": cfg.loss_type, "beta": cfg.beta, "reference": result.reference}
               if cfg.objective != "sft" else {}),
            **({"gradient_checkpointing": True} if cfg.gradient_checkpointing else {}),
            **({"memory": result.memory} if result.memory else {}),
            **({"allocator": result.allocator} if result.allocator else {}),
        })
        for part, size in result.memory.items():  # the largest over stages
            cost.memory_parts[part] = max(size, cost.memory_parts.get(part, 0))
    record.method_info["stages"] = stages_info
    resumed = [s for st in stages_info for s, what in st.get("events", []) if what == checkpoint.RESUMED]
    if resumed:  # the steps a rerun resumed after (its loss curve is an unbroken run's)
        record.method_info["resumed_from_checkpoint"] = resumed
    cost.train_seconds = round(seconds, 3)
    cost.tokens_per_second = round(tokens / seconds, 1) if seconds else None
    if train_flops and tokens:
        cost.train_flops, cost.flops_per_token = train_flops, round(train_flops / tokens, 1)
        cost.flops_formula = flops.describe(shape, tokens / examples if examples else None)
        cost.flops_per_second = train_flops / seconds if seconds else None
    if cost.flops_per_second and possible:
        cost.peak_flops, cost.peak_source = possible / seconds, "; ".join(peak_sources)
        cost.mfu = cost.flops_per_second / cost.peak_flops


def save_weights(model, tokenizer, folder: Path, variant: Variant, family: str) -> int:
    """What `save: true` writes (harness/run/saved.py): peft's adapter folder for peft methods,
    the whole model as a transformers folder for methods that train its own weights, the
    harness's format for bottleneck adapters and probes; each with the tokenizer and a
    harness-saved.json saying how to load it. Returns the bytes of weights written."""
    from harness.run import saved

    return saved.save(model, tokenizer, folder, variant, family)


def main(directory: Path | None = None) -> int:
    """`python -m harness.run.worker DIR` (or a child of the fork server, given DIR)."""
    setup_logging()
    orphan.watch()  # stop if the run that started this worker is killed
    directory = directory or Path(sys.argv[1])
    log.info("worker pid %d: %s", os.getpid(), directory)
    variant = Variant.model_validate_json((directory / VARIANT_FILE).read_text(encoding="utf-8"))
    try:
        record = run_variant(variant, directory)
    except KeyboardInterrupt:  # the parent was interrupted too and says so
        return 130
    if int(os.environ.get("RANK", "0")) > 0:
        return 0  # rank 0's record says how the variant went
    return 0 if record.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
