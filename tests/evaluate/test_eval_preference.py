"""Preference evals on the tiny model: each answer's log-probability against a forward pass
written out by hand, the rows, rewards against the model itself (exactly 0.5 and 0), bad
rows named, re-scoring from saved rows, chat-message prompts, and the torch-free check."""

from __future__ import annotations

import json

import pytest
import torch

from harness.errors import HarnessError
from harness.evaluate import checks
from harness.evaluate.preference import before_tuning
from harness.evaluate.scoring import before_tuning as kind_before_tuning
from harness.evaluate.scoring import evaluate
from harness.metrics.preference import score_preferences
from harness.models.tiny import byte_level_tokenizer, tiny_random_llama
from harness.suite.schema import EvalSpec

PAIRS = [
    {"prompt": "Name a colour of the sky.\n", "chosen": "Blue.", "rejected": "Loud, mostly."},
    {"prompt": "2 + 2 =", "chosen": " 4", "rejected": " five hundred"},
    {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No."},
]
ALL = ["preference_accuracy", "logprob_margin", "reward_accuracy", "reward_margin"]


@pytest.fixture(scope="module")
def tiny():
    return tiny_random_llama()


def write(folder, rows, name="pairs.jsonl"):
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def pref(**kw) -> EvalSpec:
    base = {"name": "pref", "data": "pairs.jsonl", "kind": "preference", "metrics": ["preference_accuracy", "logprob_margin"],
            "batch_size": 2}
    return EvalSpec(**{**base, **kw})


def by_hand(model, tok, prompt: str, answer: str) -> float:
    """Summed log-probability of the answer's tokens and the end token, one sequence alone."""
    prompt_ids = tok(prompt, add_special_tokens=True)["input_ids"]
    answer_ids = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([prompt_ids + answer_ids])
    with torch.no_grad():
        logps = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    targets = ids[0, 1:]
    picked = logps[torch.arange(len(targets)), targets]
    return float(picked[-len(answer_ids):].sum())


def test_each_answer_is_its_summed_log_probability_after_the_prompt(tiny, tmp_path):
    model, tok = tiny
    scores, rows = evaluate(model, tok, pref(), write(tmp_path, PAIRS))
    assert [r["id"] for r in rows] == [0, 1, 2]
    for pair, row in zip(PAIRS, rows):
        assert (row["prompt"], row["chosen"], row["rejected"], row["references"]) == (
            pair["prompt"], pair["chosen"], pair["rejected"], ["chosen"])
        # batched and padded (width 2) against one sequence alone: float rounding only
        assert row["chosen_logp"] == pytest.approx(by_hand(model, tok, pair["prompt"], pair["chosen"]), abs=1e-4)
        assert row["rejected_logp"] == pytest.approx(by_hand(model, tok, pair["prompt"], pair["rejected"]), abs=1e-4)
        # byte-level: one token per byte, plus the end token
        assert (row["chosen_tokens"], row["rejected_tokens"]) == (len(pair["chosen"]) + 1, len(pair["rejected"]) + 1)
        assert row["prediction"] == ("chosen" if row["chosen_logp"] > row["rejected_logp"] else "rejected")
        assert row["scores"]["preference_accuracy"] == float(row["prediction"] == "chosen")
        assert row["scores"]["logprob_margin"] == row["chosen_logp"] - row["rejected_logp"]
        assert "ref_chosen_logp" not in row
    right = [r["scores"]["preference_accuracy"] for r in rows]
    assert scores["preference_accuracy"]["value"] == pytest.approx(sum(right) / 3) and scores["preference_accuracy"]["n"] == 3
    margins = [r["chosen_logp"] - r["rejected_logp"] for r in rows]
    assert scores["logprob_margin"]["value"] == pytest.approx(sum(margins) / 3)


def test_against_itself_the_rewards_are_exactly_half_and_zero(tiny, tmp_path):
    model, tok = tiny
    ev = pref(metrics=ALL)
    write(tmp_path, PAIRS)
    before = kind_before_tuning(model, tok, ev, tmp_path)  # through the kind's before_tuning meta
    assert before == before_tuning(model, tok, ev, tmp_path) and len(before) == 3
    scores, rows = evaluate(model, tok, ev, tmp_path, before=before)
    assert scores["reward_accuracy"]["value"] == 0.5 and scores["reward_margin"]["value"] == 0.0
    assert [r["scores"]["reward_accuracy"] for r in rows] == [0.5] * 3
    assert [(r["ref_chosen_logp"], r["ref_rejected_logp"]) for r in rows] == before
    assert scores["reward_margin"]["chosen_reward"] == 0.0 and "reward" in scores["reward_margin"]
    # the policy's own ranking does not need the untuned model
    assert scores["preference_accuracy"]["value"] == pytest.approx(sum(r["prediction"] == "chosen" for r in rows) / 3)


def test_reward_metrics_without_the_untuned_scores_are_an_error(tiny, tmp_path):
    model, tok = tiny
    with pytest.raises(HarnessError, match="reward_margin compares with the untuned model's log-probabilities"):
        evaluate(model, tok, pref(metrics=["reward_margin"]), write(tmp_path, PAIRS))


@pytest.mark.parametrize("bad, message", [
    ({"prompt": "p", "chosen": "a"}, r"pairs.jsonl \(test\) row 2: no rejected column"),
    ({"prompt": "p", "chosen": "same", "rejected": " same "}, r"pairs.jsonl \(test\) row 2: chosen and rejected are the same answer"),
])
def test_a_bad_row_is_named(tiny, tmp_path, bad, message):
    model, tok = tiny
    with pytest.raises(HarnessError, match=message):
        evaluate(model, tok, pref(), write(tmp_path, [PAIRS[0], bad, PAIRS[2]]))


def test_saved_rows_rescore_to_the_stored_numbers(tiny, tmp_path):
    model, tok = tiny
    ev = pref(metrics=ALL)
    write(tmp_path, PAIRS)
    # a different "untuned" model, so the rewards are not all zero
    before = [(c - 0.25 * i, r + 0.5) for i, (c, r) in enumerate(before_tuning(model, tok, ev, tmp_path))]
    scores, rows = evaluate(model, tok, ev, tmp_path, before=before)
    saved = [json.loads(json.dumps(r)) for r in rows]
    again = score_preferences(saved, ALL)
    assert {m: r.to_record() for m, r in again.items()} == {
        m: {k: v for k, v in s.items() if k not in ("predicted_by", "reward")} for m, s in scores.items()}
    assert [again["reward_margin"].per_example[i] for i in range(3)] == [r["scores"]["reward_margin"] for r in rows]


def test_chat_message_prompts_go_through_the_chat_template(tiny, tmp_path):
    model, _ = tiny
    tok = byte_level_tokenizer()
    tok.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    turn = [{"role": "user", "content": "Sky colour?"}]
    rows = [{"chosen": turn + [{"role": "assistant", "content": "Blue."}],
             "rejected": turn + [{"role": "assistant", "content": "Green."}]}]
    _, out = evaluate(model, tok, pref(), write(tmp_path, rows))
    assert out[0]["prompt"] == "<user>Sky colour?\n<assistant>"
    assert (out[0]["chosen"], out[0]["rejected"]) == ("Blue.", "Green.")
    ids = tok(out[0]["prompt"], add_special_tokens=False)["input_ids"] + tok("Blue.", add_special_tokens=False)["input_ids"]
    ids += [tok.eos_token_id]
    with torch.no_grad():
        logps = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, :-1], dim=-1)
    expected = float(logps[torch.arange(len(ids) - 1), torch.tensor(ids[1:])][-6:].sum())
    assert out[0]["chosen_logp"] == pytest.approx(expected, abs=1e-4)


def test_the_check_names_missing_columns_and_prompts(tmp_path):
    def check(rows, **ev):
        write(tmp_path, rows)
        return {p.path: p.message for p in checks.preference("evals[0]", {"data": "pairs.jsonl", **ev}, tmp_path)}

    assert check(PAIRS) == {}
    lacking = check([{"prompt": "p", "chosen": "a", "worse": "b"}])
    assert list(lacking) == ["evals[0].data"]
    assert lacking["evals[0].data"].startswith("no rejected column") and "map yours with columns:" in lacking["evals[0].data"]
    assert "pairs.jsonl (test) has: chosen, prompt, worse" in lacking["evals[0].data"]
    assert check([{"prompt": "p", "chosen": "a", "worse": "b"}], columns={"rejected": "worse"}) == {}
    assert "no column 'bad'" in check(PAIRS, columns={"rejected": "bad"})["evals[0].columns.rejected"]
    # no prompt column: a template must name one, or the answers carry it
    unprompted = [{"chosen": "Blue.", "rejected": "Green."}]
    assert "no prompt column, no template" in check(unprompted)["evals[0].data"]
    assert check([{"chosen": "Q: sky? A: blue", "rejected": "Q: sky? A: green"}]) == {}  # hh-rlhf style
    turn = [{"role": "user", "content": "Sky?"}]
    assert check([{"chosen": turn + [{"role": "assistant", "content": "Blue."}],
                   "rejected": turn + [{"role": "assistant", "content": "Green."}]}]) == {}
    assert "names field(s) question" in check(PAIRS, template={"prompt": "{{question}}", "completion": "{{output}}"})["evals[0].template"]
    assert check([{"question": "q", "chosen": "a", "rejected": "b"}], template="Q: {{question}} |||") == {}
    assert check(PAIRS, data="hf:org/pairs") == {}  # the hub is the suite checker's note
