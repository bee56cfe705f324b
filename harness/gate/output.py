"""A check's verdicts for people: one Markdown table of every metric, then what it means.

The same text goes to stdout and, when GITHUB_STEP_SUMMARY names a file (GitHub Actions),
is appended to the job summary. `--json` prints CheckResult.to_json instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.gate.check import CheckResult, Verdict

HEADER = ("variant", "eval", "metric", "baseline", "now", "change", "95% CI of change", "p (Holm)", "tolerance",
          "detectable drop", "verdict")


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.4g}" if signed else f"{x:.4g}"


def _p(x: float | None) -> str:
    return "–" if x is None else ("<0.001" if x < 0.001 else f"{x:.3f}")


def _verdict(v: Verdict) -> str:
    text = f"**{v.status.upper()}**" if v.status in ("regressed", "not comparable") else v.status
    return f"{text}: {v.reason}" if v.reason else text


def _cells(v: Verdict) -> list[str]:
    interval = "–" if v.ci_low is None else f"[{v.ci_low:+.4g}, {v.ci_high:+.4g}]"
    seed = f" (seed {v.seed})"
    return [f"{v.variant}{seed}", v.eval or "–", v.metric or "–", _num(v.baseline), _num(v.now), _num(v.change, True),
            interval, _p(v.p_holm), v.tolerance_text if v.metric else "–", _num(v.detectable), _verdict(v)]


def markdown(result: CheckResult, allow_missing: bool) -> str:
    rows = [HEADER, tuple("---" for _ in HEADER)] + [tuple(_cells(v)) for v in result.verdicts]
    lines = [f"### harness check: {result.suite}", ""]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    counts = result.counts()
    failed = result.failed(allow_missing)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines += ["", f"**{'FAILED' if failed else 'PASSED'}**: {len(result.verdicts)} metrics checked ({summary}); "
              f"{result.comparisons} paired tests at alpha {result.alpha:g}, Holm-corrected."]
    if counts.get("not comparable") and allow_missing:
        lines.append("Not comparable metrics are allowed (--allow-missing).")
    lines.append("A metric regresses when it dropped by more than its tolerance and the drop is significant; "
                 "'detectable drop' is the drop this sample would find with 80% power.")
    if result.new_variants:
        lines.append(f"New since the baseline (not checked): {', '.join(result.new_variants)}.")
    lines += [f"Note: {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def to_job_summary(text: str) -> Path | None:
    """Append to GitHub's job summary when running there; the file it wrote, else None."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as f:
        f.write(text + "\n")
    return Path(target)
