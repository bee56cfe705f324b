"""The kill test at full size: `harness run` (and, every other moment, one of its workers)
killed with SIGKILL at random moments, the suite run again after each, and the results
checked (tests/reliability/test_kill_runs.py says what is checked).

It runs that test file under pytest with HARNESS_KILLS moments (CI runs 2) and prints, per
moment, what was killed, the random draw that placed the kill (for the run at any moment:
its share of an uninterrupted run's time) and how many variants had finished before the
kill, then the count of moments survived.

    python benchmarks/kill_test.py               # 24 moments
    python benchmarks/kill_test.py --kills 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=24, help="moments to kill at (half the run, half a worker)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "moments.jsonl"
        env = dict(os.environ, HARNESS_KILLS=str(args.kills), HARNESS_KILL_REPORT=str(report))
        test = ROOT / "tests" / "reliability" / "test_kill_runs.py"
        done = subprocess.run([sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider"], env=env,
                              cwd=tmp, capture_output=True, text=True)
        moments = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    print(f"{'killed':<16} {'moment':>6}  {'finished before':>15}  resumed from the checkpoint at step")
    for m in moments:
        print(f"{m['target']:<16} {m['fraction']:>6.2f}  {m['finished_before']:>15}  "
              f"{', '.join(map(str, m['resumed_after'])) or '-'}")
    kinds = Counter(m["target"] for m in moments)
    print(f"\n{len(moments)} of {args.kills} moments survived ({kinds['run']} kills of the run at any moment, "
          f"{kinds['run-in-training']} of the run while a worker trained, {kinds['worker']} of a worker while it "
          f"trained): every file parsed, no temp file left, nothing finished was recomputed, every score and loss "
          f"curve equal to an uninterrupted run's, no worker left running")
    if done.returncode != 0:
        print("\nFAILED:\n" + done.stdout[-4000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
