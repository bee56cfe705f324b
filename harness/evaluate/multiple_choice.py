"""Multiple-choice evals (`kind: multiple_choice`): MMLU-style questions scored by the
log-likelihood of each answer, in exactly one of lm-eval's two MMLU prompt formats.

Owns the prompt and the prediction rows. `format: letters` (the default) is lm-eval's
`mmlu` task (its _default_template_yaml with the default delimiters: target " ", few-shot
"\\n\\n"), which scores the answer letters:

    The following are multiple choice questions (with answers) about SUBJECT.\\n\\n
    {shot question.strip()}\\nA. {A}\\nB. {B}\\nC. {C}\\nD. {D}\\nAnswer: {letter}\\n\\n   (k times)
    {question.strip()}\\nA. {A}\\nB. {B}\\nC. {C}\\nD. {D}\\nAnswer:

with the subject's underscores as spaces (a row without a subject gets "...(with answers).")
and " A" .. " D" scored as continuations. `format: continuation` is lm-eval's
`mmlu_continuation` task: "The following are questions (with answers) about SUBJECT.\\n\\n",
then "Question: {question.strip()}\\nAnswer:" (shots answered with their choice's text), and
each choice's own text is scored: small models that cannot yet map an answer to its letter
(SmolLM2-135M is at chance on letters) show what they know this way. With the same data
and model, `acc` equals lm-eval's simple_evaluate in both formats
(tests/evaluate/test_eval_mmlu_parity.py checks it). Questions with more or fewer choices
get as many letters. `chat: true` sends the prompt as a user
turn of the model's chat template instead, which lm-eval's numbers do not cover.

Rows carry what re-scoring needs without the model (harness/metrics/choice.py:
score_choices): prediction (chosen letter), references ([gold letter]), choice_logprobs,
choice_lengths, subject, and the choices' texts (so a reader sees what letter B said). To
change a format, change `description`, `render` and `answer`; the parity test then says
whether lm-eval still agrees.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import questions as question_data
from harness.data.mmlu import LETTERS
from harness.evaluate.loglik import choice_logprobs
from harness.metrics.choice import score_choices
from harness.suite.schema import EvalSpec
from harness.train.batches import chat_prompt

log = logging.getLogger(__name__)

TARGET_DELIMITER = " "  # lm-eval's default between "Answer:" and the letter
FEWSHOT_DELIMITER = "\n\n"  # lm-eval's default after each answered example


def description(subject: str, fmt: str = "letters") -> str:
    """lm-eval's description line (its _generate_configs.py writes it per subject)."""
    what = "multiple choice questions" if fmt == "letters" else "questions"
    if not subject:
        return f"The following are {what} (with answers).\n\n"
    return f"The following are {what} (with answers) about {subject.replace('_', ' ')}.\n\n"


def render(question: dict[str, Any], fmt: str = "letters") -> str:
    """lm-eval's doc_to_text. letters: the question (stripped), lettered choices (as written),
    "Answer:". continuation: "Question: ", the question (stripped), "\\nAnswer:"."""
    if fmt == "continuation":
        return f"Question: {question['question'].strip()}\nAnswer:"
    lines = [question["question"].strip()]
    lines += [f"{LETTERS[i]}. {choice}" for i, choice in enumerate(question["choices"])]
    return "\n".join(lines) + "\nAnswer:"


def answers(question: dict[str, Any], fmt: str = "letters") -> list[str]:
    """What is scored after the prompt, one per choice (lm-eval's doc_to_choice): the letters, or the texts."""
    if fmt == "continuation":
        return [str(choice) for choice in question["choices"]]
    return list(LETTERS[: len(question["choices"])])


def build_prompt(question: dict[str, Any], shots: list[dict[str, Any]], fmt: str = "letters") -> str:
    """Description, answered shots, then the question without its answer."""
    answered = "".join(render(s, fmt) + TARGET_DELIMITER + answers(s, fmt)[s["answer"]] + FEWSHOT_DELIMITER for s in shots)
    return description(question["subject"], fmt) + answered + render(question, fmt)


def prompts_for(ev: EvalSpec, questions: list[dict[str, Any]], base_dir: Path) -> list[str]:
    """One prompt per question, shots from its subject's dev split."""
    pools: dict[str, tuple[list[dict], str]] = {}
    skip_self = question_data.pool_is_eval_data(ev.data)
    prompts = []
    for q in questions:
        shots: list[dict] = []
        if ev.shots:
            if q["subject"] not in pools:
                pools[q["subject"]] = question_data.shot_pool(ev.data, base_dir, q["subject"])
            pool, where = pools[q["subject"]]
            shots = question_data.first_shots(pool, ev.shots, where, q["subject"], skip=q if skip_self else None)
        prompts.append(build_prompt(q, shots, ev.format))
    return prompts


def evaluate(model, tokenizer, ev: EvalSpec, base_dir: Path) -> tuple[dict[str, dict], list[dict]]:
    """Scores ({metric: score dict}) and one prediction row per question."""
    questions = question_data.questions(ev.data, ev.split, base_dir, ev.subjects, ev.limit)
    prompts = prompts_for(ev, questions, base_dir)
    contexts = [chat_prompt(tokenizer, p) for p in prompts] if ev.chat else prompts
    targets = [answers(q, ev.format) for q in questions]
    # The template brings its own special tokens under chat, as in classification evals.
    logprobs = choice_logprobs(model, tokenizer, contexts, [[TARGET_DELIMITER + x for x in ts] for ts in targets],
                               ev.batch_size, desc=f"eval {ev.name}", specials=not ev.chat)
    rows = []
    for i, (q, prompt, scores, ts) in enumerate(zip(questions, prompts, logprobs, targets)):
        rows.append({
            "id": q.get("id", i),
            "prompt": prompt,
            "prediction": LETTERS[int(np.argmax(scores))],  # ties go to the first, as in lm-eval
            "references": [LETTERS[q["answer"]]],
            "subject": q["subject"],
            "choices": [str(c) for c in q["choices"]],
            "choice_logprobs": scores,
            # lm-eval's acc_norm divides by len() of the scored text ("A", or the choice), not of " A"
            "choice_lengths": [len(x) for x in ts],
            "scores": {},
        })
    results = score_choices(rows, ev.metrics, metric_args=ev.metric_args)
    scored = "each letter" if ev.format == "letters" else "each choice's text"
    scores_out: dict[str, dict] = {}
    for name, result in results.items():
        scores_out[name] = {**result.to_record(), "shots": ev.shots, "format": ev.format,
                            "predicted_by": f"log-likelihood of {scored}"}
        for row, value in zip(rows, result.per_example or [None] * len(rows)):
            row["scores"][name] = value
    log.info("%s: %s over %d questions", ev.name, ", ".join(f"{m}={r.value:.4f}" for m, r in results.items()), len(rows))
    return scores_out, rows
