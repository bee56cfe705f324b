"""Our metric values equal rouge-score and sacrebleu called directly, on the real files in
../shared/data (SciTLDR summaries, NTREX English-German). The "system outputs" are simple
real baselines (a paper's first sentence as its summary; the untranslated source), so the
scores are realistic, not degenerate."""

from __future__ import annotations

import json

import pytest
import sacrebleu
from conftest import SHARED_DATA
from rouge_score import rouge_scorer

from harness.registry import METRICS

SCITLDR = SHARED_DATA / "scitldr" / "test.jsonl"
NTREX = SHARED_DATA / "ntrex"
pytestmark = pytest.mark.skipif(not SCITLDR.is_file() or not NTREX.is_dir(), reason=f"real data not found under {SHARED_DATA}")


def scitldr(n: int = 150):
    rows = [json.loads(line) for line in SCITLDR.read_text().splitlines()[:n]]
    return [r["source"][0] for r in rows], [r["target"] for r in rows]  # lead sentence vs several TLDRs


@pytest.mark.parametrize("kind", ["rouge1", "rouge2", "rougeL", "rougeLsum"])
def test_rouge_equals_rouge_score_on_scitldr(kind):
    predictions, references = scitldr()
    scorer = rouge_scorer.RougeScorer([kind], use_stemmer=True)
    expected = [scorer.score_multi(refs, pred)[kind].fmeasure for pred, refs in zip(predictions, references)]
    result = METRICS.load(kind)(predictions, references)
    assert result.per_example == pytest.approx(expected, abs=0)
    assert result.value == pytest.approx(sum(expected) / len(expected), abs=1e-12)
    assert 0.05 < result.value < 0.6 and result.ci_low < result.value < result.ci_high


def test_bleu_chrf_ter_equal_sacrebleu_on_ntrex():
    src = (NTREX / "newstest2019-src.eng.txt").read_text(encoding="utf-8").splitlines()[:300]
    ref = (NTREX / "newstest2019-ref.deu.txt").read_text(encoding="utf-8").splitlines()[:300]
    references = [[r] for r in ref]
    for name, corpus in (("bleu", sacrebleu.corpus_bleu), ("chrf", sacrebleu.corpus_chrf), ("ter", sacrebleu.corpus_ter)):
        result = METRICS.load(name)(src, references)
        assert result.value == corpus(src, [ref]).score, name
    # several references per example: the SciTLDR TLDRs, padded streams as sacrebleu allows
    predictions, refs = scitldr(60)
    width = max(map(len, refs))
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(width)]
    assert METRICS.load("bleu")(predictions, refs).value == sacrebleu.corpus_bleu(predictions, streams).score
