"""The preference losses equal trl's, in value, gradients and logged rewards, on the same
inputs: every reference-based loss_type against trl's own DPOTrainer (its _compute_loss on a
batch of [chosen; rejected] rows, built on the tiny Llama made in-process), simpo against
CPOTrainer.cpo_loss and orpo against ORPOTrainer.odds_ratio_loss (both called on the
per-token mean log-probabilities they are given in trl). Then the reference itself: a LoRA
variant's is the base with adapters disabled (no copy, loss log 2 at step 0), and in a chain
of SFT then DPO it is the model after SFT."""

from __future__ import annotations

import copy
import math
import tempfile
from types import SimpleNamespace

import pytest
import torch

from harness.data.preferences import Pair
from harness.methods.base import ApplyContext
from harness.models.tiny import tiny_random_llama
from harness.registry import METHODS
from harness.suite.schema import TrainSpec
from harness.train.batches import Source
from harness.train.loop import train
from harness.train.preference import (
    Reference,
    collate_pairs,
    encode_pair,
    pair_losses,
    preference_loss,
    sequence_logps,
)

PAIRS = [Pair("Name: Ada. Food: tea.\n", "Ada drinks tea.", "Ada drinks coffee."),
         Pair("Name: Bob.\n", "Bob.", "Bob is a pub by the river."),
         Pair("Name: Cy. Area: north.\n", "Cy is in the north.", "Cy is south.")]
DPO_LOSSES = ["sigmoid", "hinge", "ipo", "robust", "bco_pair", "sppo_hard", "nca_pair", "apo_zero", "apo_down"]


def _batch(tokenizer, pairs=PAIRS):
    return collate_pairs([encode_pair(tokenizer, p, 64, chat=False) for p in pairs], tokenizer.pad_token_id)


def _perturbed(model) -> None:
    """Policy != reference: a small fixed change to every weight."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.05)


def _grads(model) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("loss_type", DPO_LOSSES)
def test_dpo_losses_equal_trls_dpo_trainer(loss_type):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = tiny_random_llama()
    model.train()
    cfg = TrainSpec(objective="dpo", loss_type=loss_type, beta=0.3, label_smoothing=0.1 if loss_type == "robust" else 0.0)
    reference = Reference.for_stage(model, cfg, first_stage=False, trained=list(model.parameters()))
    theirs_ref = copy.deepcopy(model)
    _perturbed(model)
    theirs = copy.deepcopy(model)  # trl patches the forward of the model it is given
    batch = _batch(tokenizer)

    ours, stats = preference_loss(model, batch, reference.logps(batch, True), cfg, selective=True)
    ours.backward()

    args = DPOConfig(output_dir=tempfile.mkdtemp(), report_to=[], use_cpu=True, bf16=False, beta=cfg.beta, loss_type=[loss_type],
                     label_smoothing=cfg.label_smoothing)
    trainer = DPOTrainer(model=theirs, ref_model=theirs_ref, args=args, processing_class=tokenizer,
                         train_dataset=Dataset.from_list([{"prompt": "a", "chosen": "b", "rejected": "c"}]))
    completion = (batch["labels"] != -100).long()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "completion_mask": completion}
    trainer.model.train()
    expected = trainer._compute_loss(trainer.model, inputs, False)
    expected.backward()
    logged = {k: v[-1] for k, v in trainer._metrics["train"].items()}

    assert ours.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-7)
    for got, want in zip(_grads(model), _grads(trainer.model), strict=True):
        # float rounding apart (the two sum the same terms in another order): within 1e-4 of the largest
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4 * float(want.abs().max()))
    assert stats["chosen_reward"] == pytest.approx(logged["rewards/chosen"], rel=1e-4, abs=1e-7)
    assert stats["rejected_reward"] == pytest.approx(logged["rewards/rejected"], rel=1e-4, abs=1e-7)
    assert stats["margin"] == pytest.approx(logged["rewards/margins"], rel=1e-4, abs=1e-7)
    assert stats["accuracy"] == pytest.approx(logged["rewards/accuracies"])


def _mean_logps(requires_grad=True):
    generator = torch.Generator().manual_seed(3)
    chosen = (-torch.rand(4, generator=generator) * 3).requires_grad_(requires_grad)
    rejected = (-torch.rand(4, generator=generator) * 3).requires_grad_(requires_grad)
    return chosen, rejected


def test_simpo_equals_trls_cpo_loss():
    from trl.experimental.cpo import CPOTrainer

    cfg = TrainSpec(objective="dpo", loss_type="simpo", beta=2.0, simpo_gamma=0.8)
    mean_c, mean_r = _mean_logps()
    counts = torch.tensor([3, 5, 2, 7])
    # ours takes sums and token counts; trl's CPO is handed the per-token means
    losses, chosen_rewards, rejected_rewards = pair_losses(cfg, mean_c * counts, mean_r * counts, None, None, counts, counts)
    grads = torch.autograd.grad(losses.sum(), (mean_c, mean_r))
    owner = SimpleNamespace(alpha=0.0, beta=cfg.beta, simpo_gamma=cfg.simpo_gamma, label_smoothing=0.0,
                            loss_type="simpo", accelerator=SimpleNamespace(device="cpu"))
    want, want_c, want_r = CPOTrainer.cpo_loss(owner, mean_c, mean_r)
    torch.testing.assert_close(losses, want)
    for got, expected in zip(grads, torch.autograd.grad(want.sum(), (mean_c, mean_r))):
        torch.testing.assert_close(got, expected)
    torch.testing.assert_close(chosen_rewards, want_c)
    torch.testing.assert_close(rejected_rewards, want_r)


def test_orpo_odds_ratio_equals_trls():
    from trl.experimental.orpo import ORPOTrainer

    cfg = TrainSpec(objective="dpo", loss_type="orpo", beta=0.25)
    mean_c, mean_r = _mean_logps()
    counts = torch.tensor([3, 5, 2, 7])
    losses, chosen_rewards, _ = pair_losses(cfg, mean_c * counts, mean_r * counts, None, None, counts, counts)
    grads = torch.autograd.grad(losses.sum(), (mean_c, mean_r))
    owner = SimpleNamespace(beta=cfg.beta, accelerator=SimpleNamespace(device="cpu"))
    trl_terms, want_c, _, _, _ = ORPOTrainer.odds_ratio_loss(owner, mean_c, mean_r)
    # trl's loss is its NLL minus these terms' mean: ours are the terms negated
    torch.testing.assert_close(losses, -trl_terms)
    for got, expected in zip(grads, torch.autograd.grad((-trl_terms).sum(), (mean_c, mean_r))):
        torch.testing.assert_close(got, expected)
    torch.testing.assert_close(chosen_rewards, want_c)


def test_selective_log_probabilities_equal_the_full_heads():
    model, tokenizer = tiny_random_llama()
    batch = _batch(tokenizer)
    fast, n_fast = sequence_logps(model, batch, selective=True)
    full, n_full = sequence_logps(model, batch, selective=False)
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)
    assert n_fast.tolist() == n_full.tolist()
    # by hand: the first chosen answer's tokens under log_softmax of the model's own logits
    row = batch["input_ids"][0]
    answer = (batch["labels"][0] != -100).nonzero()[:, 0]
    logits = model(input_ids=row[None], attention_mask=batch["attention_mask"][0][None]).logits[0]
    by_hand = sum(torch.log_softmax(logits[t - 1], -1)[row[t]] for t in answer.tolist())
    assert fast[0].item() == pytest.approx(float(by_hand), rel=1e-5)


def _lora(model):
    method = METHODS.load("lora")
    return method.apply(model, method.parse({"r": 4}), ApplyContext(steps=4))


def _source(tokenizer) -> list[Source]:
    return [Source("pairs", [encode_pair(tokenizer, p, 64, chat=False) for p in PAIRS])]


def test_lora_reference_is_the_base_with_adapters_disabled_and_step_0_loss_is_log_2():
    model, tokenizer = tiny_random_llama()
    applied = _lora(model)
    params = sum(p.numel() for p in applied.model.parameters())
    cfg = TrainSpec(objective="dpo", steps=1, batch_size=3, learning_rate=1e-2, precision="fp32")
    result = train(applied, tokenizer, _source(tokenizer), cfg, seed=0)
    assert result.reference == {"kind": "adapters disabled", "bytes": 0}  # no second copy of anything
    assert sum(p.numel() for p in applied.model.parameters()) == params
    # the first step's loss is taken before any update: policy and reference agree exactly
    assert result.loss_curve[0][1] == pytest.approx(math.log(2), abs=1e-6)
    assert result.preference_curve[0]["margin"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_after_sft_the_reference_is_the_model_sft_left(precision):
    """SFT moves the adapters; the DPO stage after it starts at loss log 2 against the
    post-SFT weights, where the base (adapters disabled) would give another loss, and then
    moves away from it, under bf16 autocast too (whose cache of low-precision weights once
    gave the policy the reference's: loss log 2 at every step)."""
    model, tokenizer = tiny_random_llama()
    applied = _lora(model)
    sft = TrainSpec(steps=3, batch_size=3, learning_rate=5e-2, precision="fp32")
    from harness.train.batches import encode

    sft_source = [Source("sft", [encode(tokenizer, p.prompt, p.chosen, 64) for p in PAIRS])]
    train(applied, tokenizer, sft_source, sft, seed=0)
    batch = _batch(tokenizer)
    cfg = TrainSpec(objective="dpo", steps=2, batch_size=3, learning_rate=1e-2, precision=precision)
    base = Reference.for_stage(applied.model, cfg, first_stage=True, trained=[])
    against_base, _ = preference_loss(applied.model, batch, base.logps(batch, True), cfg, selective=True)
    assert abs(against_base.item() - math.log(2)) > 1e-3  # SFT moved the model away from the base

    result = train(applied, tokenizer, _source(tokenizer), cfg, seed=0, step_offset=3)
    assert result.reference["kind"] == "weights at stage start"
    assert result.loss_curve[1][1] != pytest.approx(math.log(2), abs=1e-3)  # and then it learns
    trained = sum(p.numel() * p.element_size() for p in applied.model.parameters() if p.requires_grad)
    assert result.reference["bytes"] == trained  # a copy of the adapters alone
    assert result.loss_curve[0] == (4, pytest.approx(math.log(2), abs=1e-6))


@pytest.mark.parametrize("name", [n for n in METHODS.names() if n not in ("baseline", "linear_probe")])
def test_every_method_trains_on_preferences(name):
    """The objective is orthogonal to the method: each trains two DPO steps on the tiny model
    with a finite loss, its reference the adapter-disabled base for peft methods and a copy
    of what it trains for the others."""
    model, tokenizer = tiny_random_llama()
    method = METHODS.load(name)
    applied = method.apply(model, method.parse({}), ApplyContext(steps=2))
    cfg = TrainSpec(objective="dpo", steps=2, batch_size=3, precision="fp32",
                    learning_rate=method.train_defaults.get("learning_rate", 2e-4))
    result = train(applied, tokenizer, _source(tokenizer), cfg, seed=0)
    assert all(math.isfinite(loss) for _, loss in result.loss_curve)
    peft = hasattr(applied.model, "peft_config")
    assert result.reference["kind"] == ("adapters disabled" if peft else "weights at stage start")
    if not peft:
        trained = [p for g in applied.param_groups or [] for p in g.params] or \
            [p for p in applied.model.parameters() if p.requires_grad]
        assert result.reference["bytes"] == sum(p.numel() * p.element_size() for p in trained)
