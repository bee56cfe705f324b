"""The memory estimate the GPU pool packs by, worked out by hand for the tiny model; the
suite's time left from the running variants' progress; both torch-free."""

from __future__ import annotations

from conftest import TINY_SUITE

from harness.run.memory import estimate, parameters
from harness.run.progress import Board, Running
from harness.suite.loading import load_suite
from harness.suite.plan import plan


def test_parameter_count_from_a_config_equals_the_built_model():
    # SmolLM2-135M's config: 576 hidden, 30 layers, 9 heads (3 KV), MLP 1536, vocab 49152, tied
    # head: the model has 134,515,008 parameters (sum of numel of the loaded model).
    shape = {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
             "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152, "tie_word_embeddings": True}
    assert parameters(shape) == 134_515_008
    # the tiny model as built (tests/models check 107,200 with torch)
    tiny = {**shape, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": 259, "tie_word_embeddings": False}
    assert parameters(tiny) == 107_200


def test_estimate_worked_out_by_hand(write_suite):
    found = {v.name: v for v in plan(load_suite(write_suite(TINY_SUITE)))}
    lora = estimate(found["lora-r4"])
    # tiny-random-llama: 107,200 parameters, bf16 on a GPU (load_dtype auto): 214,400 bytes.
    # LoRA trains an assumed 2%: 2,144 parameters, fp32 gradients 8,576, AdamW 8 bytes each 17,152.
    # Activations at batch 2 x 128 tokens, h 64, 4 heads, fp32 (x2), 2 layers:
    #   128*2*64*(34 + 5*4*128/64)*2 = 2,424,832 per layer, 4,849,664 for two,
    #   plus logits 8*128*2*259 = 530,432: 5,380,096 (more than scoring's 4*8*512*259 = 4,243,456).
    assert lora.parts == {"weights": 214_400, "gradients": 8_576, "optimizer": 17_152, "activations": 5_380_096}
    assert lora.bytes == 5_620_224 and lora.source == "estimate"
    full = estimate(found["full"])  # every parameter trains, so auto keeps the weights in fp32
    assert full.parts["weights"] == 428_800 and full.parts["gradients"] == 428_800 and full.parts["optimizer"] == 857_600
    base = estimate(found["baseline"])  # no training: weights and the scoring logits
    assert base.parts == {"weights": 214_400, "gradients": 0, "optimizer": 0, "activations": 4_243_456}
    stated = TINY_SUITE.replace("seeds: [0]", "seeds: [0]\nresources: {gpu_memory: 1.5GiB}")
    assert estimate(plan(load_suite(write_suite(stated)))[0]).bytes == int(1.5 * 2**30)


def test_a_preference_stage_doubles_the_sequences_and_counts_its_reference(write_suite):
    dpo = TINY_SUITE.replace("  data: builtin:data2text\n  limit: 16", "  data: builtin:faithfulness\n  objective: dpo\n  limit: 16")
    found = {v.name: v for v in plan(load_suite(write_suite(dpo)))}
    # A pair is two sequences: batch 2 of pairs is 4 sequences, twice the activations above
    # (2 x 4,849,664 for the layers, plus logits 8*128*4*259 = 1,060,864).
    assert estimate(found["lora-r4"]).parts["activations"] == 2 * 4_849_664 + 1_060_864
    assert "reference" not in estimate(found["lora-r4"]).parts  # a first stage's base: adapters disabled
    assert estimate(found["full"]).parts["reference"] == 428_800  # a frozen fp32 copy of every weight


def test_gradient_checkpointing_keeps_each_layers_input_and_one_layers_activations(write_suite):
    checkpointed = TINY_SUITE.replace("  precision: fp32", "  precision: fp32\n  gradient_checkpointing: true")
    checkpointed = checkpointed.replace("    max_new_tokens: 8", "    max_new_tokens: 8\n    batch_size: 1")  # scoring: 530,432
    found = {v.name: v for v in plan(load_suite(write_suite(checkpointed)))}
    # fp32: 2 layers x 128*2*64 inputs x 4 bytes = 131,072, one layer's 2,424,832 (above) while
    # it is recomputed, and the logits 530,432: 3,086,336 (instead of 5,380,096)
    assert estimate(found["lora-r4"]).parts["activations"] == 131_072 + 2_424_832 + 530_432


def test_time_left_from_progress_by_hand():
    training = Running("a", "cuda:0", 30.0, {"phase": "train", "step": 10, "total": 40, "loss": 1.0, "tokens_per_second": 5.0})
    loading = Running("b", "cuda:1", 5.0, None)
    assert training.seconds_left(None) == 90.0  # 30 s for 10 steps, 30 to go
    assert "step 10/40" in training.line() and "loading" in loading.line()
    # nothing finished yet: the loading one's time is unknown, and so is the suite's
    assert Board([training, loading], 0, [], 2).seconds_left() is None
    # finished ones took 20 and 40 s (typical 30): b has 25 s left; 3 queued at 30 s; over 2 slots
    assert Board([training, loading], 3, [20.0, 40.0], 2).seconds_left() == (90 + 25 + 90) / 2
