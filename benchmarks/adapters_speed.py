"""Several LoRA adapters of one base: `harness eval-adapters` with the base loaded once
against two peers, side by side: the same command with `--separate` (a fresh base load per
adapter, in the one process), and one command per adapter (what one does without it: a
process, its imports and a base load per adapter).

K LoRA adapters of SmolLM2-135M-Instruct (r 8 on every linear layer, the harness's LoRA
default; random non-zero weights, each from its own seed; no training) are saved to a temp
folder, then both sides score them and the base alone on the same small suite: the built-in
data-to-text test split (8 records, up to 24 new tokens, ROUGE) and 16 built-in arithmetic
questions (multiple choice). Each side is the real CLI in its own process, timed whole
(start-up and imports included, alike on both sides). It prints each side's seconds, the
ratio, the base-load seconds behind it (from the records), and whether every score and
every prediction is identical.

    python benchmarks/adapters_speed.py               # K=4
    python benchmarks/adapters_speed.py --adapters 2
    python benchmarks/adapters_speed.py --model tiny-random-llama   # the script itself, in seconds
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = """\
name: adapters-speed
model: {model}
evals:
  - name: d2t
    data: builtin:data2text
    split: test
    limit: 8
    max_new_tokens: 24
    metrics: [rouge1, rouge2, rougeL]
  - name: arithmetic
    kind: multiple_choice
    format: continuation
    data: builtin:arithmetic
    limit: 16
    metrics: [acc]
"""


def save_adapters(model: str, folder: Path, k: int, r: int) -> list[str]:
    """K random non-zero LoRA adapters of the built-in model, one seed each."""
    import torch
    from peft import LoraConfig, get_peft_model

    from harness import models

    base, _ = models.load(model, Path("."))
    dirs = []
    for seed in range(k):
        torch.manual_seed(seed)
        config = LoraConfig(r=r, lora_alpha=2 * r, target_modules="all-linear", init_lora_weights=False,
                            task_type="CAUSAL_LM")
        wrapped = get_peft_model(base, config)
        wrapped.save_pretrained(folder / f"lora-{seed}")
        base = wrapped.unload()  # the base as loaded, for the next seed
        dirs.append(str(folder / f"lora-{seed}"))
    return dirs


def side(suite: Path, dirs: list[str], results: Path, *flags: str) -> float:
    """Seconds of one `harness eval-adapters` process; its per-variant lines are printed."""
    cmd = [sys.executable, "-m", "harness.cli", "eval-adapters", str(suite), *dirs, "--results", str(results),
           "--leaderboard", str(results / "board.html"), *flags]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    for line in done.stdout.splitlines():
        if line.startswith("  ok"):
            print(line)
    return seconds


def records(results: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(results.glob("*/*/record.json"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--adapters", type=int, default=4)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--model", default="smollm2-135m-instruct", help="tiny-random-llama checks the script in seconds")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dirs = save_adapters(args.model, folder, args.adapters, args.r)
        suite = folder / "suite.yaml"
        suite.write_text(SUITE.format(model=args.model), encoding="utf-8")
        print(f"{args.model}, fp32; {args.adapters} LoRA adapters (r {args.r}, every linear layer, random "
              "non-zero) and the base alone; d2t 8 records x up to 24 tokens, arithmetic 16 questions")
        print("one base load:")
        shared_s = side(suite, dirs, folder / "shared")
        print("a fresh base load each (--separate):")
        separate_s = side(suite, dirs, folder / "separate", "--separate")
        print("one command per adapter, as without this command (a process and a base load each):")
        commands_s = sum(side(suite, [d], folder / "commands") for d in dirs)

        one, each = records(folder / "shared"), records(folder / "separate")
        same_scores = sum(one[v]["metrics"] == each.get(v, {}).get("metrics") for v in one)
        files = sorted(p.relative_to(folder / "shared") for p in (folder / "shared").glob("*/*/predictions/*.jsonl"))
        same_files = sum((folder / "shared" / f).read_bytes() == (folder / "separate" / f).read_bytes() for f in files)

        def loads(recs: dict[str, dict]) -> tuple[int, float]:
            info = [r["method_info"]["evaluated_on"] for r in recs.values()]
            if info and info[0]["shared_base"]:
                return 1, info[0]["base_load_seconds"]
            return len(info), sum(i["base_load_seconds"] for i in info)

        def evals(recs: dict[str, dict]) -> float:
            return sum(r["cost"]["eval_seconds"] for r in recs.values())

        (n1, l1), (n2, l2) = loads(one), loads(each)
        print()
        print("| | one base load | --separate |")
        print("|---|---|---|")
        print(f"| whole command | {shared_s:.1f} s | {separate_s:.1f} s |")
        print(f"| base loads | {n1}, {l1:.1f} s | {n2}, {l2:.1f} s |")
        print(f"| scoring (sum of eval_seconds) | {evals(one):.1f} s | {evals(each):.1f} s |")
        print(f"| one command per adapter | {commands_s:.1f} s in {len(dirs)} processes | |")
        print(f"ratio: --separate takes {separate_s / shared_s:.2f}x the time of one base load, one command per "
              f"adapter {commands_s / shared_s:.2f}x")
        apart = records(folder / "commands")
        same_scores += sum(one[v]["metrics"] == apart.get(v, {}).get("metrics") for v in one)
        print(f"scores identical: {same_scores} of {2 * len(one)} records (both peers); predictions identical: {same_files} of "
              f"{len(files)} files")


if __name__ == "__main__":
    main()
