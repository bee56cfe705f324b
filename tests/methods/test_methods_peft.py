"""Every peft method (lora, dora, ia3, the prompt-learning three, qlora) on the tiny random
Llama: what it trains, that only that moves, and that batched generation still matches
one-at-a-time generation on the wrapped model."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import fit

from harness.evaluate.generation import generate, soft_prompt_inputs
from harness.methods.base import ApplyContext, count_parameters
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec

PAIRS = [("name[Alpha] | food[Thai]\n", "Alpha serves Thai food."), ("name[Beta] | area[riverside]\n", "Beta is by the river.")] * 4
PROMPTS = ["name[Alpha] | food[Thai]\n", "a\n", "name[Beta] | area[riverside] | priceRange[cheap]\n"]

# Trainable weights worked out by hand for the tiny model (hidden 64, k/v width 32, MLP 128,
# 2 blocks, vocabulary 259), with each method's default params.
EXPECTED_TRAINABLE = {
    # r * (in + out) summed over q, k, v, o, gate, up, down: 8 * 1024 per block
    "lora": 2 * 8 * 1024,
    # LoRA plus one magnitude per output feature: 64 + 32 + 32 + 64 + 128 + 128 + 64 per block
    "dora": 2 * 8 * 1024 + 2 * 512,
    # one scale per k, v output feature and per down_proj input feature: 32 + 32 + 128 per block
    "ia3": 2 * 192,
    # 20 virtual tokens x hidden 64
    "prompt_tuning": 20 * 64,
    # the 20 x 64 embedding, then the MLP 64 -> 128 -> 128 -> 64 with biases
    "p_tuning": 20 * 64 + (64 * 128 + 128) + (128 * 128 + 128) + (128 * 64 + 64),
    # 20 tokens x 2 blocks x (key + value) x k/v width 32
    "prefix_tuning": 20 * 2 * 2 * 32,
    "qlora": 2 * 8 * 1024,
    # peft's VeRA targets q and v of a Llama; per layer a scale per output feature (lambda_b)
    # and one per rank of the shared random matrices (lambda_d, r 256): (64 + 256) + (32 + 256)
    "vera": 2 * ((64 + 256) + (32 + 256)),
    # LoKr: W = kron(w1, w2), each dimension split into its two factors nearest its square root
    # (64 = 8 x 8, 32 = 4 x 8, 128 = 8 x 16); at r 8 both factors are full. Per block:
    # q, o 64 + 64; k, v 32 + 64; gate, up, down 64 + 128
    "lokr": 2 * (2 * 128 + 2 * 96 + 3 * 192),
}
PEFT_TYPES = {"lora": "LORA", "dora": "LORA", "ia3": "IA3", "prompt_tuning": "PROMPT_TUNING",
              "p_tuning": "P_TUNING", "prefix_tuning": "PREFIX_TUNING", "qlora": "LORA", "vera": "VERA", "lokr": "LOKR"}
PROMPT_LEARNING = {"prompt_tuning", "p_tuning", "prefix_tuning"}


def applied_tiny(name: str, params: dict | None = None):
    model, tok = tiny_random_llama()
    base = list(model.parameters())
    method = METHODS.load(name)
    return method.apply(model, method.parse(params or {}), ApplyContext(steps=3)), tok, base


@pytest.mark.parametrize("name", list(EXPECTED_TRAINABLE))
def test_trains_only_its_own_weights_and_generates_consistently(name):
    applied, tok, base = applied_tiny(name)
    model = applied.model
    trainable, total = count_parameters(model)
    assert (trainable, total) == tuple(model.get_nb_trainable_parameters())
    assert trainable == EXPECTED_TRAINABLE[name]
    assert applied.info["peft_type"] == PEFT_TYPES[name]
    assert ("num_virtual_tokens" in applied.info) == (name in PROMPT_LEARNING)
    assert applied.info.get("use_dora", False) == (name == "dora")

    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    if name != "qlora":  # qlora replaced the linear weights by their 4-bit copies
        assert all(not p.requires_grad for p in base) and {id(p) for p in base} <= {id(p) for p in model.parameters()}
    result = fit(applied, tok, PAIRS, TrainSpec(steps=3, batch_size=2, learning_rate=1e-2, precision="fp32"))
    assert [s for s, _ in result.loss_curve] == [1, 2, 3]
    assert all(math.isfinite(loss) for _, loss in result.loss_curve)
    after = dict(model.named_parameters())
    for n, before in frozen.items():
        assert torch.equal(after[n], before), f"frozen {n} moved"
    for n, before in trained.items():
        assert not torch.equal(after[n], before), f"trainable {n} did not move"

    batched = generate(model, tok, PROMPTS, max_new_tokens=8, stop=[], batch_size=3)
    single = [generate(model, tok, [p], max_new_tokens=8, stop=[], batch_size=1)[0] for p in PROMPTS]
    assert batched == single
    assert all(batched)


@pytest.mark.parametrize("name", sorted(PROMPT_LEARNING))
def test_prompt_learning_changes_what_is_generated(name):
    """The virtual tokens reach generation: with them scaled up, the continuations change."""
    model, tok = tiny_random_llama()
    plain = generate(model, tok, PROMPTS, max_new_tokens=8, stop=[], batch_size=3)
    applied, tok, _ = applied_tiny(name, {"num_virtual_tokens": 4})
    with torch.no_grad():
        for p in applied.model.parameters():
            if p.requires_grad:
                p.mul_(50)
    assert generate(applied.model, tok, PROMPTS, max_new_tokens=8, stop=[], batch_size=3) != plain
    assert applied.info["num_virtual_tokens"] == 4


@pytest.mark.parametrize("name", ["prompt_tuning", "p_tuning"])
def test_left_padded_rows_score_as_they_would_alone(name):
    """peft puts soft prompts before the padding and drops position ids, which shifts a
    padded row's next-token scores by about 3e-3 here; soft_prompt_inputs moves the padding
    in front, and each row scores as peft scores the prompt alone."""
    applied, tok, _ = applied_tiny(name, {"num_virtual_tokens": 4})
    model = applied.model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p))
    kw = {"max_new_tokens": 1, "do_sample": False, "output_scores": True, "return_dict_in_generate": True,
          "pad_token_id": tok.pad_token_id}
    tok.padding_side = "left"
    generator, inputs = soft_prompt_inputs(model, tok(PROMPTS, return_tensors="pt", padding=True))
    assert generator is model.get_base_model()
    batched = generator.generate(**inputs, **kw).scores[0]
    for row, prompt in enumerate(PROMPTS):
        alone = model.generate(**tok([prompt], return_tensors="pt"), **kw).scores[0][0]
        torch.testing.assert_close(batched[row], alone, atol=1e-5, rtol=0)


def test_unknown_and_reserved_keys_are_reported_with_a_suggestion():
    problems = {p.path: p.message for p in METHODS.load("dora").validate({"lora_alpah": 8, "use_dora": False})}
    assert "did you mean 'lora_alpha'" in problems["lora_alpah"]
    assert "set by the dora method" in problems["use_dora"]
    problems = {p.path: p.message for p in METHODS.load("prefix_tuning").validate({"num_virtual_token": 8})}
    assert "did you mean 'num_virtual_tokens'" in problems["num_virtual_token"]
    assert METHODS.load("ia3").validate({"init_ia3_weights": False}) == []  # any IA3Config field passes


def test_peft_cross_field_checks_run_at_validation():
    # LoraConfig: LoftQ initialisation needs its config; layer selection needs a list of targets.
    problems = METHODS.load("lora").validate({"init_lora_weights": "loftq"})
    assert len(problems) == 1 and "LoraConfig" in problems[0].message and "loftq_config" in problems[0].message
    problems = METHODS.load("qlora").validate({"layers_to_transform": [0]})
    assert len(problems) == 1 and "target_modules" in problems[0].message
    assert METHODS.load("qlora").validate({"layers_to_transform": [0], "target_modules": ["q_proj", "v_proj"]}) == []
    # IA3Config: feedforward modules must be among the targets (checked without peft).
    problems = METHODS.load("ia3").validate({"target_modules": ["k_proj"], "feedforward_modules": ["down_proj"]})
    assert len(problems) == 1 and "among target_modules" in problems[0].message


def test_text_init_without_a_tokenizer_name_is_refused():
    problems = METHODS.load("prompt_tuning").validate({"prompt_tuning_init": "TEXT", "prompt_tuning_init_text": "Describe:"})
    assert len(problems) == 1 and "tokenizer_name_or_path" in problems[0].message


def test_text_init_starts_from_the_texts_token_embeddings(tmp_path):
    model, tok = tiny_random_llama()
    tok.save_pretrained(tmp_path)
    method = METHODS.load("prompt_tuning")
    params = {"prompt_tuning_init": "TEXT", "prompt_tuning_init_text": "Say", "num_virtual_tokens": 5,
              "tokenizer_name_or_path": str(tmp_path)}
    assert method.validate(params) == []
    words = model.get_input_embeddings().weight.detach().clone()
    applied = method.apply(model, method.parse(params), ApplyContext())
    ids = tok("Say")["input_ids"]  # BOS S a y, repeated to fill the 5 virtual tokens
    prompt = applied.model.prompt_encoder["default"].embedding.weight
    assert torch.equal(prompt, words[(ids * 2)[:5]])
