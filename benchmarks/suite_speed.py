"""A whole suite as a user runs it: `harness run` on the quickstart (what `make demo` runs)
with a cold model cache, then the same command again on the unchanged suite, then, as the
peer, the first run again with every variant started as a fresh `python -m
harness.run.worker` process (HARNESS_FORK=0: how the harness ran variants before its fork
server) and its own cold cache.

Each run is the real CLI in a subprocess, timed from start to exit, with its own results
folder and cache under a temporary folder. It prints the three times, the rerun as a share
of the first run, the peer against the fork server, and whether the two first runs recorded
the same scores for every variant.

    python benchmarks/suite_speed.py                          # suites/quickstart.yaml
    python benchmarks/suite_speed.py --suite suites/smoke.yaml --no-peer
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HARNESS = [sys.executable, "-m", "harness.cli"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="suites/quickstart.yaml")
    ap.add_argument("--no-peer", action="store_true", help="skip the run with a fresh process per variant")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first = timed(args.suite, root / "forked", {})
        again = timed(args.suite, root / "forked", {})
        print(f"{args.suite} on {os.cpu_count()} cores")
        print(f"  first run, cold cache, fork server:  {first:7.1f} s")
        print(f"  rerun of the unchanged suite:         {again:7.1f} s  ({100 * again / first:.1f}% of the first run)")
        if not args.no_peer:
            peer = timed(args.suite, root / "fresh", {"HARNESS_FORK": "0"})
            print(f"  first run, cold cache, fresh process per variant: {peer:7.1f} s  "
                  f"(the fork server is {peer / first:.2f}x faster)")
            same = scores(root / "forked") == scores(root / "fresh")
            print(f"  scores identical with and without the fork server: {same}")


def timed(suite: str, folder: Path, env: dict[str, str]) -> float:
    """Seconds `harness run` takes, its results and model cache in `folder`."""
    env = dict(os.environ, HARNESS_CACHE=str(folder / "cache"), **env)
    command = [*HARNESS, "run", suite, "--results", str(folder / "results"), "--leaderboard", str(folder / "board.html")]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    for line in done.stdout.splitlines():  # what ran: one line per variant, and the summary
        if line.lstrip().startswith(("ok ", "skip ")) or " ok, " in line:
            print("   ", line.strip())
    return seconds


def scores(folder: Path) -> dict[str, dict]:
    """Every record's metrics by variant name."""
    out = {}
    for path in sorted((folder / "results").glob("*/*/record.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        out[record["name"]] = {ev: {m: s["value"] for m, s in ms.items()} for ev, ms in record["metrics"].items()}
    return out


if __name__ == "__main__":
    main()
