"""The fuzz tests at full size: tests/reliability/test_fuzz_*.py (broken suites, data files,
records, predictions and baselines fed to validate, the data readers, report, score,
baseline and check) with --examples random examples per test instead of CI's few.

Every case the tests try is tallied (HARNESS_FUZZ_LOG); this prints the cases per target
and the command or reader that met them, the exit codes seen (2: a clear error naming the
file; 1: check's verdict), and every exception other than a clear error: there must be
none. Exits 1 when there is one, or when a test failed (its output is printed).

    python benchmarks/fuzz.py                  # 50 examples per test
    python benchmarks/fuzz.py --examples 200
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = sorted(str(p) for p in (ROOT / "tests" / "reliability").glob("test_fuzz_*.py"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=50, help="hypothesis examples per test (CI runs 10)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "cases.jsonl"
        env = dict(os.environ, HARNESS_FUZZ_EXAMPLES=str(args.examples), HARNESS_FUZZ_LOG=str(log))
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider", "--durations=0"],
                              env=env, cwd=tmp, capture_output=True, text=True)
        took = time.perf_counter() - start
        cases = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    summarize(cases, args.examples, took)
    crashes = [c for c in cases if c["exception"]]
    if crashes or done.returncode != 0:
        print("\nFAILED:\n" + done.stdout[-6000:])
        sys.exit(1)


def summarize(cases: list[dict], examples: int, took: float) -> None:
    by_target: dict[str, Counter] = defaultdict(Counter)
    vias: dict[str, Counter] = defaultdict(Counter)
    for c in cases:
        by_target[c["target"]][_outcome(c)] += 1
        vias[c["target"]][c["via"]] += 1
    outcomes = ["exit 0", "exit 1", "exit 2", "crash"]
    width = max([len(t) for t in by_target] + [6])
    print(f"{'fuzzed':<{width}}  {'cases':>5}  " + "  ".join(f"{o:>6}" for o in outcomes) + "  met by")
    for target in sorted(by_target):
        counts = by_target[target]
        met = ", ".join(f"{via} {n}" for via, n in sorted(vias[target].items()))
        print(f"{target:<{width}}  {sum(counts.values()):>5}  " + "  ".join(f"{counts[o] or '-':>6}" for o in outcomes)
              + f"  {met}")
    total = Counter(_outcome(c) for c in cases)
    print(f"{'total':<{width}}  {len(cases):>5}  " + "  ".join(f"{total[o] or '-':>6}" for o in outcomes))
    crashes = Counter((c["target"], c["via"], c["exception"]) for c in cases if c["exception"])
    print(f"\n{len(cases):,} cases in {took:.0f} s ({examples} examples per test); "
          f"exceptions other than a clear error: {sum(crashes.values())}")
    for (target, via, exception), n in sorted(crashes.items()):
        print(f"  {exception} x{n}: {target} ({via})")


def _outcome(case: dict) -> str:
    return "crash" if case["exception"] else f"exit {case['exit']}"


if __name__ == "__main__":
    main()
