"""MMLU-style multiple choice: the harness's multiple_choice eval against lm-eval's
simple_evaluate (HFLM), side by side on the same model object, questions and prompts.

Both score the same rows of the shared MMLU files (../shared/data/mmlu): lm-eval through its
own mmlu task YAML per subject with only the dataset swapped for local json (as the parity
test does), the harness through an eval of kind multiple_choice. It prints each side's
seconds, their ratio, and whether accuracy agrees question by question.

    python benchmarks/mmlu_speed.py                      # 0-shot, marketing + sociology (435 questions)
    python benchmarks/mmlu_speed.py --shots 5
    python benchmarks/mmlu_speed.py --limit 20 --shots 5 # a quick look
    python benchmarks/mmlu_speed.py --dtype bf16         # bf16 weights on both sides
    python benchmarks/mmlu_speed.py --repeats 2          # mirrored runs, best of each side

Before either side is timed the model runs one warm-up batch, so neither pays the first
call's thread-pool and kernel set-up; with --repeats the order alternates (harness first,
then lm-eval first) and each side's fastest run counts, which keeps a noisy shared machine
from deciding the ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlu"


def local_tasks(root: Path, subjects: list[str], limit: int | None,
                formats: tuple[str, ...] = ("letters",)) -> tuple[Path, dict[str, list[str]]]:
    """(an MMLU folder for the harness, lm-eval task YAMLs per format) over the same rows:
    the first `limit` test questions of each subject and its dev split. lm-eval's side is
    its own task YAML (mmlu/default for letters, mmlu/continuation for continuation) with
    only the dataset swapped, task names local_FORMAT_SUBJECT. tests/evaluate's parity test
    uses it too."""
    import lm_eval

    tasks = Path(lm_eval.__file__).parent / "tasks" / "mmlu"
    yamls: dict[str, list[str]] = {f: [] for f in formats}
    for subject in subjects:
        files = {}
        for split, n in (("test", limit), ("dev", None)):
            with (SHARED / split / f"{subject}_{split}.csv").open(newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))[:n]
            ours = root / "mmlu" / split / f"{subject}_{split}.csv"
            ours.parent.mkdir(parents=True, exist_ok=True)
            with ours.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(rows)
            # json, not csv, for lm-eval: its csv loader would let pandas retype answers such as "0.50"
            files[split] = root / "lm_eval" / f"{subject}_{split}.jsonl"
            files[split].parent.mkdir(parents=True, exist_ok=True)
            files[split].write_text("".join(json.dumps({"question": r[0], "subject": subject, "choices": r[1:5],
                                                        "answer": "ABCD".index(r[5])}) + "\n" for r in rows))
        for fmt in formats:
            folder = "default" if fmt == "letters" else "continuation"
            task = root / "lm_eval" / f"local_{fmt}_{subject}.yaml"
            task.write_text(
                f"include: {tasks / folder / f'mmlu_{subject}.yaml'}\ntask: local_{fmt}_{subject}\ntag: null\n"
                "dataset_path: json\ndataset_name: null\n"
                f"dataset_kwargs:\n  data_files:\n    test: {files['test']}\n    dev: {files['dev']}\n"
                "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
                "  - metric: acc_norm\n    aggregation: mean\n    higher_is_better: true\n")
            yamls[fmt].append(str(task))
    return root / "mmlu", yamls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", nargs="+", default=["marketing", "sociology"])
    ap.add_argument("--shots", type=int, default=0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--limit", type=int, default=None, help="questions per subject (default: all)")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="the weights' dtype, on both sides (bf16: what load_dtype: bf16 gives)")
    ap.add_argument("--repeats", type=int, default=1, help="mirrored runs of both sides; the fastest of each counts")
    args = ap.parse_args()
    os.environ.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")

    import torch
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from harness.evaluate.scoring import evaluate
    from harness.models.smollm2 import load
    from harness.suite.schema import EvalSpec

    model, tokenizer = load()
    model = model.to(torch.bfloat16 if args.dtype == "bf16" else torch.float32)
    print(f"SmolLM2-135M-Instruct, {args.dtype}, {torch.get_num_threads()} threads; {', '.join(args.subjects)}, "
          f"{args.shots}-shot, batch {args.batch}")
    with tempfile.TemporaryDirectory() as tmp:
        folder, by_format = local_tasks(Path(tmp), args.subjects, args.limit)
        yamls = by_format["letters"]
        ev = EvalSpec(name="mmlu", data=f"mmlu:{folder}", kind="multiple_choice", subjects=args.subjects,
                      shots=args.shots, metrics=["acc"], batch_size=args.batch)
        with torch.no_grad():  # warm-up: thread pool and kernels, for both sides alike
            model(input_ids=torch.randint(100, 1000, (args.batch, 128)))

        def ours_run():
            return evaluate(model, tokenizer, ev, Path("."))

        def theirs_run():
            lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch)
            return simple_evaluate(model=lm, tasks=yamls, num_fewshot=args.shots, log_samples=True,
                                   bootstrap_iters=0, task_manager=TaskManager(include_defaults=False))

        times: dict[str, list[float]] = {"harness": [], "lm-eval": []}
        outputs: dict[str, object] = {}
        for r in range(args.repeats):
            sides = [("harness", ours_run), ("lm-eval", theirs_run)]
            for name, fn in sides if r % 2 == 0 else sides[::-1]:
                start = time.perf_counter()
                outputs[name] = fn()
                times[name].append(time.perf_counter() - start)
        (ours, rows), theirs = outputs["harness"], outputs["lm-eval"]
        harness_s, lm_eval_s = min(times["harness"]), min(times["lm-eval"])
        if args.repeats > 1:
            print("runs (s): " + "; ".join(f"{k} {', '.join(f'{t:.1f}' for t in v)}" for k, v in times.items()))

    same = True
    for subject in args.subjects:
        samples = sorted(theirs["samples"][f"local_letters_{subject}"], key=lambda s: s["doc_id"])
        mine = [r for r in rows if r["subject"] == subject]
        same &= len(samples) == len(mine) and all(r["scores"]["acc"] == s["acc"] for r, s in zip(mine, samples))
    right = sum(round(theirs["results"][f"local_letters_{s}"]["acc,none"] * len([r for r in rows if r["subject"] == s]))
                for s in args.subjects)
    print(f"questions {len(rows)}: harness acc {ours['acc']['value']:.4f}, lm-eval acc {right / len(rows):.4f}; "
          f"identical per question: {same}")
    print(f"harness {harness_s:.1f} s, lm-eval {lm_eval_s:.1f} s (simple_evaluate, task building included): "
          f"harness {lm_eval_s / harness_s:.2f}x faster")


if __name__ == "__main__":
    main()
