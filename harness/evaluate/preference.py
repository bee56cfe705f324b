"""Preference evals (`kind: preference`): on held-out pairs of a prompt and two answers, does
the model prefer the answer people preferred, and how far did tuning move it there?

Each answer is scored by the summed log-probability of its tokens after the prompt, the
end token included, encoded exactly as a preference stage trains on it
(harness/train/preference.py: encode_pair, never truncated here), so the numbers are those
DPO optimises. The metrics (harness/metrics/preference.py) read them two ways:

- On the model alone: preference_accuracy ranks each pair by the policy's own margin,
  log pi(chosen) > log pi(rejected); logprob_margin is the mean of that difference. Both are
  defined for every variant, the untuned baseline included, so McNemar's test of
  preference_accuracy against the baseline is meaningful.
- Against where every variant started: DPO's implicit reward r(y) = log pi(y|x) -
  log pi_0(y|x), with pi_0 the suite's model as loaded, scored by `before_tuning` before the
  method touches the model (the worker calls it; harness/catalog.py's `before_tuning` meta
  names it). pi_0 is the same for every variant, whatever beta or chain of stages each used
  (a stage's own DPO reference may be an earlier stage's output), so the rewards compare
  across variants; they are in nats, at beta = 1. reward_accuracy is the share of pairs
  whose chosen reward exceeds the rejected's, a tie counting one half, so the untuned
  baseline scores exactly 0.5; reward_margin is the mean of r(chosen) - r(rejected).

Rows carry what re-scoring needs without the model (score_preferences; rescore "columns"):
prediction ("chosen" when the chosen answer is the more likely), references (["chosen"]),
chosen_logp, rejected_logp, the token counts, and, when the untuned model was scored,
ref_chosen_logp and ref_rejected_logp. A pair's prompt is its text as the template renders
it, or for chat-message data the chat template's text.
"""

from __future__ import annotations

import logging
from pathlib import Path

from harness.data.preferences import Pair, preference_pairs
from harness.data.templates import Template, parse_template
from harness.errors import HarnessError
from harness.evaluate.loglik import score_encoded
from harness.metrics.preference import score_preferences
from harness.suite.schema import EvalSpec, TemplateSpec
from harness.train.batches import IGNORE, chat_prompt
from harness.train.preference import encode_pair

log = logging.getLogger(__name__)

NO_TRUNCATION = 1_000_000  # an eval scores whole answers; a truncated one would compare different things


def pairs_of(ev: EvalSpec, base_dir: Path) -> list[Pair]:
    """The eval's pairs, prompts rendered by its template (None: the prompt column)."""
    return preference_pairs(ev.data, ev.split, base_dir, ev.limit, _template(ev.template), ev.columns)


def _template(value: TemplateSpec | str | list | None) -> Template | list[Template] | None:
    """The prompt part alone: a pair's answers are its columns, so a completion the template
    may carry (the train template an eval inherits) is never rendered."""
    if value is None:
        return None
    if isinstance(value, list):
        return [_prompt_only(v) for v in value]
    return _prompt_only(value)


def _prompt_only(value: TemplateSpec | str) -> Template:
    prompt = value.prompt if isinstance(value, TemplateSpec) else parse_template(value).prompt
    return Template(prompt=prompt, completion="")


def score_pairs(model, tokenizer, ev: EvalSpec, pairs: list[Pair], desc: str) -> tuple[list[tuple[float, float]], list[tuple[int, int]]]:
    """(chosen, rejected) summed log-probability and (chosen, rejected) answer token count per pair."""
    encoded: list[tuple[list[int], int]] = []
    for pair in pairs:
        both = encode_pair(tokenizer, pair, NO_TRUNCATION, bool(ev.chat))
        if both is None:  # encode adds an end token to every answer; kept as a guard
            raise HarnessError(f"{ev.data} ({ev.split}): a pair encoded to an empty answer")
        for side in ("chosen", "rejected"):
            ids, labels = both[side]["input_ids"], both[side]["labels"]
            encoded.append((ids, sum(label != IGNORE for label in labels)))  # the answer: the last tokens
    logps = score_encoded(model, encoded, tokenizer.pad_token_id, ev.batch_size, desc)
    scores = [(logps[2 * i], logps[2 * i + 1]) for i in range(len(pairs))]
    counts = [(encoded[2 * i][1], encoded[2 * i + 1][1]) for i in range(len(pairs))]
    return scores, counts


def before_tuning(model, tokenizer, ev: EvalSpec, base_dir: Path) -> list[tuple[float, float]]:
    """(chosen, rejected) log-probability of each pair under the model as loaded: pi_0 of the
    rewards, passed back to `evaluate` as `before`."""
    return score_pairs(model, tokenizer, ev, pairs_of(ev, base_dir), f"eval {ev.name} (untuned)")[0]


def evaluate(model, tokenizer, ev: EvalSpec, base_dir: Path,
             before: list[tuple[float, float]] | None = None) -> tuple[dict[str, dict], list[dict]]:
    """Scores ({metric: score dict}) and one prediction row per pair."""
    pairs = pairs_of(ev, base_dir)
    if before is not None and len(before) != len(pairs):
        raise HarnessError(f"eval {ev.name}: {len(before)} untuned scores for {len(pairs)} pairs; the untuned model "
                           "must be scored on the same pairs (rerun the variant)")
    scores, counts = score_pairs(model, tokenizer, ev, pairs, f"eval {ev.name}")
    rows = []
    for i, (pair, (chosen, rejected), (n_chosen, n_rejected)) in enumerate(zip(pairs, scores, counts)):
        row = {
            "id": i,
            "prompt": chat_prompt(tokenizer, pair.prompt) if pair.conversational else pair.prompt,
            "chosen": pair.chosen,
            "rejected": pair.rejected,
            "prediction": "chosen" if chosen > rejected else "rejected",  # a tie prefers nothing: wrong
            "references": ["chosen"],
            "chosen_logp": chosen,
            "rejected_logp": rejected,
            "chosen_tokens": n_chosen,
            "rejected_tokens": n_rejected,
        }
        if before is not None:
            row["ref_chosen_logp"], row["ref_rejected_logp"] = float(before[i][0]), float(before[i][1])
        rows.append({**row, "scores": {}})
    results = score_preferences(rows, ev.metrics, metric_args=ev.metric_args)
    scores_out: dict[str, dict] = {}
    for name, result in results.items():
        scores_out[name] = {**result.to_record(), "predicted_by": "summed log-probability of each answer after the prompt"}
        if name.startswith("reward_"):
            scores_out[name]["reward"] = "log-ratio against the suite's model as loaded, beta 1, nats"
        for row, value in zip(rows, result.per_example or [None] * len(rows)):
            row["scores"][name] = value
    log.info("%s: %s over %d pairs", ev.name, ", ".join(f"{m}={r.value:.4f}" for m, r in results.items()), len(rows))
    return scores_out, rows
