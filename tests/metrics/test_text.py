"""Text metrics against rouge-score and sacrebleu called directly, and against hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF, TER

from harness.errors import HarnessError
from harness.metrics import MetricResult, compute, text
from harness.registry import METRICS

TEXT_METRICS = [e.name for e in METRICS.entries() if e.meta["kind"] == "generation"]

# Small data2text-style corpus; examples 1 and 3 carry several references, example 2 one.
PREDS = [
    "The Eagle is a cheap coffee shop near Burger King in the city centre.",
    "Green Man serves French food and is family friendly.",
    "Zizzi is a pub with a high customer rating located by the river.",
    "The Punter is an expensive Italian restaurant.",
    "Browns Cambridge offers Chinese food near the Crowne Plaza Hotel.",
    "Cotto is a coffee shop that is not family-friendly.",
]
REFS = [
    ["The Eagle is a low priced coffee shop in the city centre near Burger King.",
     "Near Burger King in the city centre is The Eagle, a cheap coffee shop."],
    ["The Green Man is a family friendly place serving French food."],
    ["Zizzi is a highly rated pub by the river.",
     "By the riverside, Zizzi is a pub with high customer ratings.",
     "Zizzi, a pub near the river, is rated highly by customers."],
    ["The Punter is a high priced Italian restaurant.",
     "The Punter serves Italian food at high prices."],
    ["Browns Cambridge serves Chinese food and is near the Crowne Plaza Hotel."],
    ["Cotto is a coffee shop which is not family friendly.",
     "Cotto, a coffee shop, is not kid friendly."],
]


def streams(refs):
    """sacrebleu's layout: one stream per reference position, None where an example has fewer."""
    width = max(len(r) for r in refs)
    return [[r[j] if j < len(r) else None for r in refs] for j in range(width)]


@pytest.mark.parametrize("rouge_type", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
def test_rouge_matches_rouge_score_score_multi(rouge_type):
    scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
    expected = [scorer.score_multi(refs, p)[rouge_type].fmeasure for p, refs in zip(PREDS, REFS)]
    res = compute(rouge_type, PREDS, REFS)
    assert res.per_example == pytest.approx(expected, abs=0, rel=0)
    assert res.value == pytest.approx(float(np.mean(expected)), rel=1e-12)
    assert res.n == len(PREDS)
    assert res.ci_low <= res.value <= res.ci_high
    assert 0.0 <= res.ci_low and res.ci_high <= 1.0


def test_rouge_by_hand():
    # Example 1: "the cat sat" vs "the cat ran away": 2 shared unigrams,
    #   P = 2/3, R = 2/4, F = 2PR/(P+R) = (2/3)/(7/6) = 4/7.
    # Example 2: "hello world" vs ["hello world again", "hi"]: best is the first,
    #   P = 1, R = 2/3, F = (4/3)/(5/3) = 4/5; "hi" would give 0.
    # Mean = (4/7 + 4/5) / 2 = 24/35.
    preds = ["the cat sat", "hello world"]
    refs = [["the cat ran away"], ["hello world again", "hi"]]
    r1 = text.rouge1(preds, refs)
    assert r1.per_example == pytest.approx([4 / 7, 4 / 5])
    assert r1.value == pytest.approx(24 / 35)
    # ROUGE-2, example 1: bigrams {the cat, cat sat} vs {the cat, cat ran, ran away}:
    #   P = 1/2, R = 1/3, F = 2/5. Example 2: {hello world} vs {hello world, world again}:
    #   P = 1, R = 1/2, F = 2/3. Mean = (2/5 + 2/3) / 2 = 8/15.
    assert text.rouge2(preds, refs).value == pytest.approx(8 / 15)


def test_rouge_uses_the_stemmer():
    assert text.rouge1(["cats running"], [["cat run"]]).value == pytest.approx(1.0)


def test_rougelsum_splits_on_newlines_only():
    # Sentences swapped: whole-text LCS covers one sentence (F = 1/2), per-sentence union covers both.
    preds, refs = ["a b c\nd e f"], [["d e f\na b c"]]
    assert text.rougeL(preds, refs).value == pytest.approx(0.5)
    assert text.rougeLsum(preds, refs).value == pytest.approx(1.0)
    # Without newlines there is one "sentence", so Lsum is plain L.
    flat = ["a b c d e f"], [["d e f a b c"]]
    assert text.rougeLsum(*flat).value == pytest.approx(text.rougeL(*flat).value)


@pytest.mark.parametrize(
    "name, corpus_fn, sentence_metric",
    [
        ("bleu", sacrebleu.corpus_bleu, BLEU(effective_order=True)),
        ("chrf", sacrebleu.corpus_chrf, CHRF()),
        ("ter", sacrebleu.corpus_ter, TER()),
    ],
)
def test_sacrebleu_metrics_equal_corpus_scores(name, corpus_fn, sentence_metric):
    res = compute(name, PREDS, REFS)
    expected = corpus_fn(PREDS, streams(REFS))
    assert res.value == expected.score  # exactly, not approximately
    assert res.per_example == [sentence_metric.sentence_score(p, r).score for p, r in zip(PREDS, REFS)]
    assert res.extra["level"] == "corpus"
    assert "nrefs:var" in res.extra["signature"] and f"version:{sacrebleu.__version__}" in res.extra["signature"]
    assert res.ci_low < res.ci_high


def test_bleu_with_equal_reference_counts_matches_plain_sacrebleu():
    refs = [r[:1] for r in REFS]
    res = text.bleu(PREDS, refs)
    expected = sacrebleu.corpus_bleu(PREDS, [[r[0] for r in REFS]])
    assert res.value == expected.score
    metric = BLEU()
    metric.corpus_score(PREDS, [[r[0] for r in REFS]])
    assert res.extra["signature"] == str(metric.get_signature())
    assert "nrefs:1" in res.extra["signature"]


def test_bleu_ci_is_the_bootstrap_of_corpus_bleu_over_strings():
    # Brute force: resample examples with the same draws and rescore the strings with
    # sacrebleu. The sufficient-statistics bootstrap must give the same percentiles.
    n = len(PREDS)
    draws = np.random.default_rng(7).integers(0, n, size=(1000, n))
    scores = [
        sacrebleu.corpus_bleu([PREDS[i] for i in d], streams([REFS[i] for i in d])).score for d in draws
    ]
    low, high = np.percentile(scores, [2.5, 97.5])
    res = text.bleu(PREDS, REFS, seed=7)
    assert res.ci_low == pytest.approx(low, rel=1e-9)
    assert res.ci_high == pytest.approx(high, rel=1e-9)


@pytest.mark.parametrize("name", ["bleu", "chrf", "ter", "rouge1"])
def test_ci_narrows_as_corpus_grows(name):
    # Repeating the corpus leaves corpus scores unchanged but gives the bootstrap more data.
    small = compute(name, PREDS, REFS)
    big = compute(name, PREDS * 16, REFS * 16)
    assert big.value == pytest.approx(small.value, rel=1e-12)
    assert big.ci_low <= big.value <= big.ci_high
    assert (big.ci_high - big.ci_low) < 0.5 * (small.ci_high - small.ci_low)


def test_single_example_gives_zero_width_interval():
    for name in TEXT_METRICS:
        res = compute(name, PREDS[:1], REFS[:1])
        assert res.n == 1
        assert res.ci_low == res.value == res.ci_high, name


def test_exact_match_normalisation():
    preds = ["  Paris ", "the  Eiffel\tTower", "London", "rome"]
    refs = [["paris"], ["The Eiffel Tower", "Eiffel"], ["Berlin", "Madrid"], ["Rome"]]
    norm = text.exact_match(preds, refs)
    assert norm.per_example == [1.0, 1.0, 0.0, 1.0]
    assert norm.value == 0.75
    raw = text.exact_match(preds, refs, normalize=False)
    assert raw.per_example == [0.0, 0.0, 0.0, 0.0]
    assert raw.extra == {"normalize": False}


def test_exact_match_all_correct_is_a_zero_width_interval():
    res = text.exact_match(["a", "b", "c"], [["A"], ["b "], ["c"]])
    assert (res.value, res.ci_low, res.ci_high) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("name", list(TEXT_METRICS))
def test_mismatched_lengths_raise(name):
    with pytest.raises(HarnessError, match="2 predictions but 1 reference"):
        compute(name, ["a", "b"], [["a"]])


@pytest.mark.parametrize(
    "preds, refs, match",
    [
        (["a"], [[]], "empty list of references"),
        (["a"], ["a"], "wrap it in a list"),
        ([], [], "empty"),
        (["a"], [["a", None]], "expected a string"),
        ([None], [["a"]], "expected a string"),
    ],
)
def test_bad_inputs_raise(preds, refs, match):
    with pytest.raises(HarnessError, match=match):
        text.bleu(preds, refs)
    with pytest.raises(HarnessError, match=match):
        text.rouge1(preds, refs)


def test_unknown_metric_name():
    with pytest.raises(HarnessError, match="did you mean 'rougeL'"):
        compute("rougel", PREDS, REFS)


@pytest.mark.parametrize("name", ["bleu", "rougeL"])
def test_seed_determinism(name):
    a, b = compute(name, PREDS, REFS, seed=3), compute(name, PREDS, REFS, seed=3)
    c = compute(name, PREDS, REFS, seed=4)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)
    assert a.value == c.value


def test_confidence_level_widens_interval():
    r90 = text.chrf(PREDS, REFS, confidence=0.90)
    r99 = text.chrf(PREDS, REFS, confidence=0.99)
    assert r90.confidence == 0.90
    assert r99.ci_low <= r90.ci_low and r90.ci_high <= r99.ci_high


def test_registry_table_and_record():
    rouge = [f"rouge{n}" for n in range(1, 10)] + ["rougeL", "rougeLsum"]
    assert set(TEXT_METRICS) == {r + s for r in rouge for s in ("", "_p", "_r")} | {"bleu", "chrf", "ter", "exact_match"}
    assert [e.name for e in METRICS.entries() if not e.meta["higher_is_better"]] == ["ter"]
    assert METRICS.get("bleu").meta["scale"] == "0-100" and METRICS.get("rouge1").meta["scale"] == "0-1"
    for name in TEXT_METRICS:
        assert METRICS.load(name) is getattr(text, name) and "\n" not in METRICS.get(name).help
    record = text.bleu(PREDS, REFS).to_record()
    assert set(record) == {"value", "ci_low", "ci_high", "n", "signature", "level", "per_example_kind"}
    assert isinstance(text.rouge1(PREDS, REFS), MetricResult)
    assert all(math.isfinite(record[k]) for k in ("value", "ci_low", "ci_high"))


@pytest.mark.parametrize("rouge_type", ["rouge3", "rouge4", "rouge5", "rougeL"])
def test_every_rouge_type_and_measure_equals_rouge_score(rouge_type):
    # Against rouge-score itself: per example, the reference with the best F, and that
    # reference's precision and recall (score_multi), then the mean.
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
    # predictions longer than their references, so precision and recall differ
    preds = ["the cat sat on the mat today and then it slept", "a quick brown fox jumps over the lazy dog twice",
             "one two three four five and more"]
    refs = [["the cat sat on a mat today", "cats sit"], ["the quick brown fox jumped over a lazy dog"], ["one two three four six"]]
    best = [scorer.score_multi(r, p)[rouge_type] for p, r in zip(preds, refs)]
    for suffix, field in (("", "fmeasure"), ("_p", "precision"), ("_r", "recall")):
        result = compute(rouge_type + suffix, preds, refs)
        assert result.per_example == [getattr(b, field) for b in best]
        assert result.value == pytest.approx(sum(getattr(b, field) for b in best) / 3, abs=1e-12)
        assert METRICS.get(rouge_type + suffix).meta["pairing"] == "mean"
    # precision and recall really differ from F here: the test would catch a swapped field
    assert compute(rouge_type + "_p", preds, refs).value != compute(rouge_type + "_r", preds, refs).value
