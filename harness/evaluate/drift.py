"""The drift probe: forgetting measured without any data.

The base model samples continuations of fixed generic prompts (fixed seed, temperature 1,
no truncation of the distribution), and each sample is scored under the base model and
under the tuned one. Since the samples come from the base model, the mean per-token drop
in log-probability, log p_base(x) - log p_tuned(x), is a Monte Carlo estimate of
KL(base || tuned) per token: zero for the untuned model, growing as tuning moves the model
away from what it was. Every variant draws the same samples (the base model, prompts and
seed are the same), so the figures compare across variants.

The worker calls `draw` on the freshly loaded model before the method is applied, and
`drift` after training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.evaluate.loglik import score_encoded
from harness.metrics.stats import corpus_ci
from harness.suite.schema import DriftProbeSpec

GENERIC_PROMPTS = (
    "Tell me about your favourite season and why.",
    "Write a short note to a friend who is moving to a new city.",
    "What should I keep in mind when learning to cook?",
    "Describe a walk through a forest in autumn.",
    "Explain how a bicycle works to a child.",
    "What are some good habits for getting enough sleep?",
    "Give me three ideas for a rainy weekend.",
    "Summarise the plot of a story about a lost dog finding its way home.",
    "Why do people enjoy music?",
    "Write the opening lines of a letter of thanks to a teacher.",
    "What is the difference between weather and climate?",
    "Describe the view from a window in a busy city.",
    "How do you make a cup of tea?",
    "Write a short product description for a wooden chair.",
    "What makes a good team member?",
    "Tell a short story about a lighthouse keeper.",
    "Explain what a library is for.",
    "What are the benefits of walking every day?",
    "Describe the sound of the sea.",
    "Give advice to someone starting their first job.",
    "What is your opinion of long train journeys?",
    "Write a haiku about the morning.",
    "How would you explain the internet to someone from the past?",
    "List a few things people often forget to pack for a trip.",
)


@dataclass
class Samples:
    """The base model's samples: token ids, where each continuation starts, base log-probs."""

    sequences: list[tuple[list[int], int]]  # (prompt + sample ids, number of sample tokens)
    base_logprobs: list[float]


def _prompt_text(tokenizer, prompt: str) -> tuple[str, bool]:
    if getattr(tokenizer, "chat_template", None):  # instruct models: a user turn
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True), False
    return prompt + "\n", True


@torch.no_grad()
def draw(model, tokenizer, spec: DriftProbeSpec, batch_size: int = 8) -> Samples:
    """Sample from the (untuned) model and score the samples under it."""
    device = next(model.parameters()).device
    prompts = [GENERIC_PROMPTS[i % len(GENERIC_PROMPTS)] for i in range(spec.prompts) for _ in range(spec.samples)]
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(spec.seed)
    sequences = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(prompts), batch_size):
            texts, specials = zip(*(_prompt_text(tokenizer, p) for p in prompts[start : start + batch_size]))
            enc = tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=specials[0]).to(device)
            out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                 max_new_tokens=spec.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
            for row in range(len(texts)):
                prompt_ids = enc["input_ids"][row][enc["attention_mask"][row].bool()].tolist()
                sample = out[row, enc["input_ids"].shape[1] :].tolist()
                if tokenizer.eos_token_id in sample:  # up to and including the end of the sample
                    sample = sample[: sample.index(tokenizer.eos_token_id) + 1]
                if sample:
                    sequences.append((prompt_ids + sample, len(sample)))
    finally:
        tokenizer.padding_side = side
        torch.random.set_rng_state(generator_state)
    return Samples(sequences, score_encoded(model, sequences, tokenizer.pad_token_id, batch_size, desc="drift samples"))


def drift(model, tokenizer, samples: Samples, batch_size: int = 8) -> dict:
    """Mean per-token log-probability drop of the base samples under `model`, with a
    bootstrap interval over samples (token-weighted, like the value)."""
    tuned = score_encoded(model, samples.sequences, tokenizer.pad_token_id, batch_size, desc="drift")
    drops = np.array([b - t for b, t in zip(samples.base_logprobs, tuned)])
    tokens = np.array([n for _, n in samples.sequences], dtype=float)
    value = float(drops.sum() / tokens.sum())
    stats = np.stack([drops, tokens], axis=1)
    low, high = corpus_ci(stats, lambda row: row[0] / row[1], value=value)
    return {"value": value, "ci_low": low, "ci_high": high, "n": len(drops), "tokens": int(tokens.sum()),
            "estimates": "KL(base || tuned) per token, nats"}
