"""What each stage optimised, for the training table: "sft", or for a preference stage
(`objective: dpo`) its loss_type, beta and reference model with that model's memory.

Read from what the run recorded (`method_info["stages"][i]`: objective, loss_type, beta and
reference = {"kind", "bytes"}, harness/run/worker.py), else from the resolved spec's stage
(objective, loss_type, beta; no reference). Both are free-form JSON, so every value is
type-checked before use: a damaged or older record shows less, never breaks the page.
The reference kinds are harness/train/preference.Reference's. Imports no torch.
"""

from __future__ import annotations

from typing import Any

from harness.report.numbers import size
from harness.report.rows import Run

# kind -> how the page says it: the memory a reference costs is what a reader weighs
REFERENCE = {
    "adapters disabled": "adapters disabled (no copy)",
    "none": "none (reference-free)",
}


def _stages(run: Run) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(recorded, written) per stage, either {} where absent."""
    info = [st if isinstance(st, dict) else {} for st in run.method_info.get("stages") or []]
    spec = [st if isinstance(st, dict) else {} for st in run.spec.get("stages") or []]
    return [(info[i] if i < len(info) else {}, spec[i] if i < len(spec) else {}) for i in range(max(len(info), len(spec)))]


def _value(recorded: dict[str, Any], written: dict[str, Any], key: str) -> Any:
    return recorded[key] if recorded.get(key) is not None else written.get(key)


def reference_text(reference: Any) -> str | None:
    """'weights at stage start (1.2 MB)', 'adapters disabled (no copy)', 'none (reference-free)'."""
    if not isinstance(reference, dict) or not isinstance(reference.get("kind"), str):
        return None
    kind, nbytes = reference["kind"], reference.get("bytes")
    if kind in REFERENCE:
        return REFERENCE[kind]
    if isinstance(nbytes, (int, float)) and not isinstance(nbytes, bool) and nbytes > 0:
        return f"{kind} ({size(nbytes)})"
    return kind


def stage_text(recorded: dict[str, Any], written: dict[str, Any]) -> str | None:
    """'sft', or 'dpo, loss_type sigmoid, beta 0.1, reference: weights at stage start (1.2 MB)';
    None when neither says what the stage optimised."""
    objective = _value(recorded, written, "objective")
    if not isinstance(objective, str):
        return None
    if objective == "sft":
        return objective
    parts = [objective]
    loss_type, beta = _value(recorded, written, "loss_type"), _value(recorded, written, "beta")
    if isinstance(loss_type, str):
        parts.append(f"loss_type {loss_type}")
    if isinstance(beta, (int, float)) and not isinstance(beta, bool):
        parts.append(f"beta {beta:g}")
    reference = reference_text(recorded.get("reference"))
    if reference:
        parts.append(f"reference: {reference}")
    return ", ".join(parts)


def has_preference(run: Run) -> bool:
    """Some stage of the run trained on preference pairs (an objective other than sft)."""
    return any(isinstance(o := _value(rec, wr, "objective"), str) and o != "sft" for rec, wr in _stages(run))


def objective_text(run: Run) -> str:
    """The run's stages' objectives: one stage's text, or 'stage 1: sft; stage 2: dpo, ...';
    '–' when no stage says."""
    texts = [stage_text(rec, wr) for rec, wr in _stages(run)]
    if not any(texts):
        return "–"
    if len(texts) == 1:
        return texts[0] or "–"
    return "; ".join(f"stage {i}: {t or '–'}" for i, t in enumerate(texts, 1))
