"""Preference objectives (`objective: dpo`): the policy learns which of two answers is better
instead of one target, against a reference model, as trl's DPOTrainer does.

A batch holds B pairs as 2B sequences, the chosen answers first and the rejected after (trl's
order), so one forward pass scores both. Each sequence's log-probability is the sum over its
answer tokens (the prompt is context only). The loss of each `loss_type` is trl's formula,
term for term (trl computes it inside its trainer's step, so the harness loop computes it
here; tests/train/test_preference_loss.py checks values and gradients against trl's own
DPOTrainer, CPOTrainer and ORPOTrainer on the same inputs):

- reference-based (DPOTrainer): with chosen and rejected log-ratios c = log pi(y_w|x) -
  log ref(y_w|x) and r likewise, delta = c - r: sigmoid (DPO) -logsigmoid(beta delta); hinge
  relu(1 - beta delta); ipo ((c/|y_w|) - (r/|y_l|) - 1/(2 beta))^2 (length-normalised, as
  trl does); robust, bco_pair, sppo_hard, nca_pair, apo_zero, apo_down.
- reference-free: simpo (CPOTrainer with cpo_alpha 0: mean per-token log-probabilities, a
  margin gamma) and orpo (ORPOTrainer's odds-ratio term on mean per-token log-probabilities,
  plus the supervised loss of the chosen answer; trl takes that loss over prompt and answer,
  the ORPO paper and this module over the answer alone).

The reference (`Reference`) is the model the stage starts from, in the cheapest form that is
exactly it: a peft model's base with its adapters disabled (no second copy) when no earlier
stage trained them; otherwise the trained weights as the stage found them, swapped in for the
reference's forward pass (for full fine-tuning that is a frozen copy of every weight, and its
bytes are recorded). Reference-free losses need none.

Per step the loop records trl's training metrics: the mean chosen and rejected rewards
(beta times the log-ratio; for reference-free losses beta times the mean log-probability),
their margin and the share of pairs whose chosen reward is higher.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.data.preferences import Pair
from harness.errors import HarnessError
from harness.models import abilities
from harness.suite.schema import TrainSpec
from harness.train.batches import IGNORE, collate, encode

log = logging.getLogger(__name__)

REFERENCE_FREE = frozenset({"simpo", "orpo"})
MEAN_LOGPS = frozenset({"simpo", "orpo"})  # compared per token of the answer, as CPO and ORPO do


def encode_pair(tokenizer, pair: Pair, max_length: int, chat: bool) -> dict | None:
    """The chosen and the rejected sequence of one pair (prompt + answer + end token, loss on
    the answer); None when truncation leaves either answer without a token."""
    chosen = encode(tokenizer, pair.prompt, pair.chosen, max_length, chat)
    rejected = encode(tokenizer, pair.prompt, pair.rejected, max_length, chat)
    if chosen is None or rejected is None:
        return None
    return {"chosen": chosen, "rejected": rejected}


def collate_pairs(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """2B right-padded sequences: the B chosen answers, then the B rejected ones."""
    return collate([e["chosen"] for e in examples] + [e["rejected"] for e in examples], pad_id)


def sequence_logps(model, batch: dict[str, torch.Tensor], selective: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed log-probability of each sequence's answer tokens, how many there are), per row.

    A decoder predicts token t+1 at position t. With `selective` (harness/models/abilities.py)
    the output head runs at those positions alone; otherwise the logits of the real tokens are
    read (peft's soft prompts put theirs first)."""
    labels = batch["labels"]
    answer = labels[:, 1:] != IGNORE  # (rows, width - 1): position t predicts an answer token
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if selective:
        keep = torch.zeros_like(labels, dtype=torch.bool)
        keep[:, :-1] = answer
        logits = model(**inputs, logits_to_keep=keep).logits  # (answer tokens, vocabulary), row by row
    else:
        logits = model(**inputs).logits
        logits = logits[:, logits.shape[1] - labels.shape[1] :][:, :-1][answer]
    targets = labels[:, 1:][answer]
    token_logps = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    rows = answer.nonzero()[:, 0]
    sums = torch.zeros(labels.shape[0], dtype=token_logps.dtype, device=token_logps.device).index_add(0, rows, token_logps)
    return sums, answer.sum(dim=1)


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, stable on both sides of -log 2 (Maechler, 2012)."""
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def pair_losses(cfg: TrainSpec, chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor | None,
                ref_rejected: torch.Tensor | None, chosen_n: torch.Tensor, rejected_n: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss per pair, chosen rewards, rejected rewards) from summed log-probabilities; the
    rewards are detached, as trl logs them."""
    beta, kind = cfg.beta, cfg.loss_type
    if kind in REFERENCE_FREE:
        mean_c, mean_r = chosen / chosen_n, rejected / rejected_n
        if kind == "simpo":
            logits = mean_c - mean_r - cfg.simpo_gamma / beta
            losses = -F.logsigmoid(beta * logits)
        else:  # orpo: the odds-ratio term, to be subtracted from the supervised loss
            log_odds = (mean_c - mean_r) - (_log1mexp(mean_c) - _log1mexp(mean_r))
            losses = -beta * F.logsigmoid(log_odds)
        return losses, (beta * mean_c).detach(), (beta * mean_r).detach()
    if ref_chosen is None or ref_rejected is None:
        raise HarnessError(f"loss_type {kind} compares with a reference model, and none was given")
    c, r = chosen - ref_chosen, rejected - ref_rejected
    delta = c - r
    if kind == "sigmoid":
        losses = -F.logsigmoid(beta * delta)
    elif kind == "hinge":
        losses = torch.relu(1 - beta * delta)
    elif kind == "ipo":
        losses = (c / chosen_n.clamp(min=1) - r / rejected_n.clamp(min=1) - 1 / (2 * beta)) ** 2
    elif kind == "robust":
        eps = cfg.label_smoothing
        losses = (-(1 - eps) * F.logsigmoid(beta * delta) + eps * F.logsigmoid(-beta * delta)) / (1 - 2 * eps)
    elif kind == "bco_pair":
        losses = -F.logsigmoid(beta * c) - F.logsigmoid(-beta * r)
    elif kind == "sppo_hard":
        losses = (c - 0.5 / beta) ** 2 + (r + 0.5 / beta) ** 2
    elif kind == "nca_pair":
        losses = -F.logsigmoid(beta * c) - 0.5 * F.logsigmoid(-beta * c) - 0.5 * F.logsigmoid(-beta * r)
    elif kind == "apo_zero":
        losses = 1 - torch.sigmoid(beta * c) + torch.sigmoid(beta * r)
    elif kind == "apo_down":
        losses = torch.sigmoid(beta * c) + 1 - torch.sigmoid(beta * delta)
    else:
        raise HarnessError(f"unknown loss_type {kind!r}")
    return losses, (beta * c).detach(), (beta * r).detach()


class Reference:
    """The model a preference stage starts from, for the reference log-probabilities.

    kind "none": a reference-free loss. "adapters disabled": a peft model's frozen base.
    "weights at stage start": the trained parameters as the stage found them, kept aside
    and swapped in under no_grad for the reference's forward pass."""

    def __init__(self, model, kind: str, params: list[torch.nn.Parameter] | None = None):
        self.model, self.kind = model, kind
        self.params = params or []
        self.saved = [p.detach().clone() for p in self.params]

    @classmethod
    def for_stage(cls, model, cfg: TrainSpec, first_stage: bool, trained: list[torch.nn.Parameter]) -> Reference:
        """The reference of a stage training `trained` (every parameter the optimizer holds,
        those a schedule unfreezes later included)."""
        if cfg.loss_type in REFERENCE_FREE:
            return cls(model, "none")
        if first_stage and hasattr(model, "disable_adapter") and hasattr(model, "peft_config"):
            return cls(model, "adapters disabled")
        return cls(model, "weights at stage start", trained)

    @property
    def bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.saved)

    def describe(self) -> dict:
        return {"kind": self.kind, "bytes": self.bytes}

    @contextlib.contextmanager
    def _active(self):
        if self.kind == "adapters disabled":
            with self.model.disable_adapter():
                yield
            return
        with torch.no_grad():
            for p, saved in zip(self.params, self.saved):
                p.data, saved.data = saved.data, p.data
        try:
            yield
        finally:
            with torch.no_grad():
                for p, saved in zip(self.params, self.saved):
                    p.data, saved.data = saved.data, p.data

    @torch.no_grad()
    def logps(self, batch: dict[str, torch.Tensor], selective: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The reference's summed log-probabilities of the batch's chosen and rejected answers."""
        if self.kind == "none":
            return None
        with self._active():
            sums, _ = sequence_logps(self.model, batch, selective)
        return sums.chunk(2)


@dataclass
class PairTerms:
    """What one batch contributes to a preference step, as sums, so the loss of a batch split
    across ranks is the loss of the whole: mean = sum / (pairs over every rank)."""

    losses: torch.Tensor  # summed loss of the pairs (with a graph)
    pairs: int
    nll: torch.Tensor | None  # orpo: the chosen answers' summed negative log-probability (with a graph)
    nll_tokens: int  # orpo: how many answer tokens that sum is over
    stats: dict[str, float]  # trl's metrics summed over the pairs: chosen_reward, rejected_reward, margin, accuracy

    def loss(self, pairs: int | None = None, nll_tokens: int | None = None) -> torch.Tensor:
        """The mean loss over `pairs` pairs (default: this batch's), plus orpo's supervised loss per answer token."""
        loss = self.losses / (pairs or self.pairs)
        if self.nll is not None:
            loss = loss + self.nll / (nll_tokens or self.nll_tokens)
        return loss


def preference_terms(model, batch: dict[str, torch.Tensor], ref: tuple[torch.Tensor, torch.Tensor] | None,
                     cfg: TrainSpec, selective: bool) -> PairTerms:
    """The batch's loss terms and trl's training metrics; `ref`: the reference's
    log-probabilities of its chosen and rejected answers (Reference.logps).

    Take those in an autocast region of their own: autocast caches the low-precision copy of
    each trained weight until its region ends, so a reference pass over swapped-in weights
    in the policy's region would hand the policy the reference's copies (no change, no
    gradient)."""
    sums, counts = sequence_logps(model, batch, selective)
    chosen, rejected = sums.chunk(2)
    chosen_n, rejected_n = counts.chunk(2)
    losses, chosen_rewards, rejected_rewards = pair_losses(
        cfg, chosen, rejected, *(ref if ref is not None else (None, None)), chosen_n, rejected_n)
    orpo = cfg.loss_type == "orpo"  # plus the supervised loss of the chosen answers, per answer token
    stats = {
        "chosen_reward": float(chosen_rewards.sum()),
        "rejected_reward": float(rejected_rewards.sum()),
        "margin": float((chosen_rewards - rejected_rewards).sum()),
        "accuracy": float((chosen_rewards > rejected_rewards).float().sum()),
    }
    return PairTerms(losses.sum(), len(losses), -chosen.sum() if orpo else None, int(chosen_n.sum()), stats)


def preference_loss(model, batch: dict[str, torch.Tensor], ref: tuple[torch.Tensor, torch.Tensor] | None,
                    cfg: TrainSpec, selective: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """The batch's mean loss over its pairs, and trl's training metrics of the batch (means)."""
    terms = preference_terms(model, batch, ref, cfg, selective)
    return terms.loss(), {k: v / terms.pairs for k, v in terms.stats.items()}


def check_supported(model) -> None:
    """What a preference stage cannot do, said before it starts."""
    if abilities.is_encoder_decoder(model):
        raise HarnessError("objective dpo tunes a decoder (a causal language model); this model is an encoder-decoder")
