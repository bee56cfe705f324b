"""Tiny random models, one per family, each with a byte-level tokenizer, all built in-process
from fixed seeds, so tests and the smoke suites need no download and give the same numbers
on every machine:

* tiny-random-llama: a 2-layer Llama (decoder).
* tiny-random-bert: a 2-layer BERT with a classification head over the suite's labels (encoder).
* tiny-random-t5: a T5 with 2 encoder and 2 decoder blocks (encoder-decoder).
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

SPECIALS = ["<s>", "</s>", "<pad>"]
WEIGHTS_SEED = 1234  # fixed: the model is the same everywhere, so records compare


def byte_level_tokenizer() -> PreTrainedTokenizerFast:
    """One token per byte (256) plus BOS, EOS and PAD; no merges, so any text encodes."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    for token in SPECIALS:
        vocab[token] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", vocab["<s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_random_llama() -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    tokenizer = byte_level_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.float().eval(), tokenizer


def _byte_vocab(specials: list[str]) -> dict[str, int]:
    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for token in specials:
        vocab[token] = len(vocab)
    return vocab


def _byte_tokenizer(vocab: dict[str, int], single: str, specials: list[str], **named) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single=single, pair=single.replace("$A", "$A $B"),
                                                       special_tokens=[(t, vocab[t]) for t in specials])
    return PreTrainedTokenizerFast(tokenizer_object=tok, **named)


def tiny_random_bert(labels: tuple[str, ...]) -> tuple[BertForSequenceClassification, PreTrainedTokenizerFast]:
    """BERT's layout ([CLS] text [SEP], a pooler, a classifier over the labels) at toy size."""
    from harness.models import classifier_kwargs

    vocab = _byte_vocab(["[CLS]", "[SEP]", "[PAD]", "[MASK]"])
    tokenizer = _byte_tokenizer(vocab, "[CLS] $A [SEP]", ["[CLS]", "[SEP]"], cls_token="[CLS]", sep_token="[SEP]",
                                pad_token="[PAD]", mask_token="[MASK]")
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
                        **classifier_kwargs(labels))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        model = BertForSequenceClassification(config)
    return model.float().eval(), tokenizer


def tiny_random_t5() -> tuple[T5ForConditionalGeneration, PreTrainedTokenizerFast]:
    """T5's layout (text </s> to the encoder, the decoder starting from the pad token) at toy size."""
    vocab = _byte_vocab(["<pad>", "</s>"])
    tokenizer = _byte_tokenizer(vocab, "$A </s>", ["</s>"], eos_token="</s>", pad_token="<pad>")
    config = T5Config(vocab_size=len(tokenizer), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_decoder_layers=2,
                      num_heads=4, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id, feed_forward_proj="gated-gelu",
                      tie_word_embeddings=False,
                      # T5's init is sized for d_model 512 and up; at 64 it starts with logits so large
                      # that the first loss is about 36 nats instead of ln(vocab) = 5.6
                      initializer_factor=0.05)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        model = T5ForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.decoder_start_token_id = tokenizer.pad_token_id
    return model.float().eval(), tokenizer
