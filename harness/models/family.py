"""Model families: what kind of transformer a model is decides how it is loaded, trained and scored.

* "causal": a decoder language model (Llama, SmolLM2, GPT-2): AutoModelForCausalLM; the
  loss is on the completion tokens after the prompt; generation continues the prompt.
* "encoder": a BERT-style encoder (BERT, MiniLM, RoBERTa): AutoModelForSequenceClassification
  with one output per class; trained and scored as a classifier (train.label, a
  classification eval), its head predicting the class.
* "seq2seq": an encoder-decoder (T5, FLAN-T5, BART): AutoModelForSeq2SeqLM; the prompt goes
  to the encoder, the completion is the decoder's label sequence; generation decodes.

A built-in model declares its family in the registry (harness/catalog.py, family=...); a
hub id or local folder is classified from its config.json. Imports no torch.
"""

from __future__ import annotations

from typing import Any

FAMILIES = ("causal", "encoder", "seq2seq")
AUTO_CLASSES = {"causal": "AutoModelForCausalLM", "encoder": "AutoModelForSequenceClassification",
                "seq2seq": "AutoModelForSeq2SeqLM"}
PEFT_TASK_TYPES = {"causal": "CAUSAL_LM", "encoder": "SEQ_CLS", "seq2seq": "SEQ_2_SEQ_LM"}


def eval_kinds(family: str) -> list[str]:
    """The eval kinds that can score a model of this family, from each kind's registration
    (`families`): an encoder predicts with its classification head; an encoder-decoder
    generates (scoring continuations by log-likelihood is a decoder's here)."""
    from harness.registry import EVAL_KINDS

    return [e.name for e in EVAL_KINDS.entries() if family in e.meta.get("families", FAMILIES)]


def family_of_config(config: Any) -> str:
    """The family of a transformers config (or its to_dict()): encoder-decoder configs say
    so; an architecture ending in ForCausalLM / LMHeadModel is a decoder; the rest
    (BertModel, BertForMaskedLM, RobertaForSequenceClassification, ...) are encoders."""
    get = config.get if isinstance(config, dict) else lambda key, default=None: getattr(config, key, default)
    if get("is_encoder_decoder", False):
        return "seq2seq"
    architectures = get("architectures") or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "causal"
    if architectures:
        return "encoder"
    # No architectures recorded: decoders are by far the most common models without one.
    return "encoder" if get("model_type") in ENCODER_TYPES else "causal"


ENCODER_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "deberta",
                           "deberta-v2", "mpnet", "camembert", "modernbert"})
