"""Generation evals (`kind: generation`) and the batched greedy decoding behind them: left
padding, length-sorted batches, KV cache, stop strings.

Left padding puts every prompt's last token at the same position, so one forward pass
continues them all; sorting by length keeps padding (wasted compute) small.

A stop string ends an answer only once the answer has begun: whitespace before its first
character is skipped, and a stop string found there does not count. Many instruct models
open their answer with a newline; with the usual stop string "\n", the answer would
otherwise be empty, and the eval would score the prompt format instead of the model.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import StoppingCriteria, StoppingCriteriaList

from harness.data import sources
from harness.data.templates import Template, render
from harness.evaluate import decode, shards
from harness.evaluate import shots as in_context
from harness.evaluate.scoring import references_of, score
from harness.models import abilities
from harness.suite.schema import EvalSpec
from harness.train.batches import chat_prompt


def cut_at_stop(text: str, stop: list[str]) -> str:
    """The text up to the first stop string that comes after the answer's first
    non-whitespace character (the stop string itself dropped; the evaluators strip the
    whitespace around an answer)."""
    begun = len(text) - len(text.lstrip()) + 1
    ends = [i for i in (text.find(s, begun) for s in stop if s) if i >= 0]
    return text[: min(ends)] if ends else text


class StopAfterAnswer(StoppingCriteria):
    """Ends a row once its new text holds a stop string after the answer began (cut_at_stop's
    rule), instead of transformers' stop_strings, which ends it at a leading stop string."""

    def __init__(self, tokenizer, stop: list[str], start: int):
        self.tokenizer, self.stop, self.start = tokenizer, [s for s in stop if s], start

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.start :], skip_special_tokens=True)
        done = [cut_at_stop(t, self.stop) != t for t in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def soft_prompt_inputs(model, enc) -> tuple:
    """(model to call generate on, its inputs): the encoded batch as is, except for peft's
    prompt tuning and P-tuning.

    Those put their virtual tokens before the whole row, left padding included, and peft
    drops the position ids, so a padded row sees the virtual tokens further away than it
    would alone (and than in training, where padding is on the right): batched output then
    differs from one-at-a-time output. Here the row becomes [padding][virtual][prompt] as
    input embeddings for the base model, which numbers positions from the attention mask.
    """
    if abilities.virtual_tokens(model) != "inputs" or abilities.is_encoder_decoder(model):
        # peft puts an encoder-decoder's virtual tokens before the encoder's input itself,
        # and the decoder's positions do not depend on the encoder's padding.
        return model, dict(enc)
    base = model.get_base_model()
    embeds = base.get_input_embeddings()(enc["input_ids"])
    virtual = model.get_prompt(batch_size=embeds.shape[0]).to(embeds.dtype)
    embeds = torch.cat([virtual, embeds], dim=1)
    mask = torch.cat([enc["attention_mask"].new_ones(virtual.shape[:2]), enc["attention_mask"]], dim=1)
    order = torch.argsort(mask, dim=1, stable=True)  # padding (0) first, the rest in its order
    return base, {"inputs_embeds": embeds.gather(1, order.unsqueeze(-1).expand_as(embeds)), "attention_mask": mask.gather(1, order)}


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, stop: list[str], batch_size: int,
             desc: str = "generate", chat: bool = False) -> list[str]:
    """Greedy continuations of the prompts (as user turns of the chat template if chat)."""
    return continue_texts(model, tokenizer, [chat_prompt(tokenizer, p) for p in prompts] if chat else prompts,
                          max_new_tokens, stop, batch_size, desc, specials=not chat)


@torch.no_grad()
def continue_texts(model, tokenizer, prompts: list[str], max_new_tokens: int, stop: list[str], batch_size: int,
                   desc: str, specials: bool) -> list[str]:
    """Greedy continuations of texts ready to continue; `specials` adds the tokenizer's special
    tokens (a chat-templated text brings its own)."""
    device = next(model.parameters()).device
    lengths = [len(tokenizer(p, add_special_tokens=specials)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i], reverse=True)
    outputs: list[str] = [""] * len(prompts)
    side = tokenizer.padding_side
    seq2seq = abilities.is_encoder_decoder(model)
    # A decoder continues every row from the same position; an encoder-decoder's encoder
    # reads its input padded on the right, as in training.
    tokenizer.padding_side = "right" if seq2seq else "left"
    done: list[int] = []
    fast = decode.supports(model)  # harness/evaluate/decode.py; the rest through generate()

    def ended(tokens: list[int]) -> bool:  # StopAfterAnswer's rule for one row
        if not any(stop):
            return False
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        return cut_at_stop(text, stop) != text

    try:
        for start in tqdm(shards.mine(range(0, len(order), batch_size)), desc=desc, unit="batch", leave=False,
                          dynamic_ncols=True, disable=not shards.is_main()):
            idx = order[start : start + batch_size]
            done += idx
            if fast:
                ids = [tokenizer(prompts[i], add_special_tokens=specials)["input_ids"] for i in idx]
                new = decode.greedy(model, ids, max_new_tokens, tokenizer.eos_token_id, ended)
                for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True)):
                    outputs[i] = cut_at_stop(text, stop)
                continue
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=specials).to(device)
            generator, inputs = soft_prompt_inputs(model, enc)
            # generate returns the prompt too when given ids, only the new tokens when given
            # embeddings (an encoder-decoder returns the decoder's tokens alone)
            start = inputs["input_ids"].shape[1] if "input_ids" in inputs and not seq2seq else 0
            out = generator.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                stopping_criteria=StoppingCriteriaList([StopAfterAnswer(tokenizer, stop, start)]) if any(stop) else None,
            )
            new_tokens = out[:, start:]
            for i, text in zip(idx, tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                outputs[i] = cut_at_stop(text, stop)
    finally:
        tokenizer.padding_side = side
    return shards.gather(outputs, done)


def evaluate(model, tokenizer, ev: EvalSpec, base_dir: Path,
             shots: list[tuple[str, str]] | None = None) -> tuple[dict[str, dict], list[dict]]:
    """Decode each example's completion and score it against its references; with `shots`
    (an in-context baseline's examples: harness/evaluate/shots.py) each prompt opens with them."""
    rows = sources.map_columns(sources.load_split(ev.data, ev.split, base_dir, limit=ev.limit), ev.columns, ev.data)
    # With a references column the completion is not needed, and its fields may be missing.
    template = Template(ev.template.prompt, "" if ev.references else ev.template.completion)
    prompts, references = [], []
    for i, row in enumerate(rows):
        where = f"{ev.data} ({ev.split}) row {i + 1}"
        prompt, completion = render(template, row, where=where)
        prompts.append(prompt)
        references.append(references_of(ev, row, completion, where))

    if not shots:
        predictions = generate(model, tokenizer, prompts, ev.max_new_tokens, ev.stop, ev.batch_size,
                               desc=f"eval {ev.name}", chat=bool(ev.chat))
    else:
        room = (in_context.context_length(model) or 10**9) - ev.max_new_tokens
        texts, kept = in_context.contexts(tokenizer, prompts, shots, bool(ev.chat), room)
        predictions = continue_texts(model, tokenizer, texts, ev.max_new_tokens, ev.stop, ev.batch_size,
                                     desc=f"eval {ev.name}", specials=not ev.chat)
    # Surrounding whitespace is not part of an answer (" 42" after "Answer:" is 42).
    predictions = [p.strip() for p in predictions]
    scores, rows_out = score(ev, prompts, predictions, references)
    if shots:
        for row, n in zip(rows_out, kept):
            row["shots"] = n  # the prompt shown is the eval's own; these examples came before it
    return scores, rows_out
