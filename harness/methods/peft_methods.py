"""Methods through peft: the shared plumbing (`peft_method`), IA3 and the prompt-learning
family (prompt tuning, P-tuning, prefix tuning). LoRA and DoRA live in lora.py, QLoRA in
qlora.py; all are built here.

A peft method is a peft config class (named as a string, so this module imports without
torch or peft), a pydantic params model and train defaults. The model types the common
fields with their constraints and allows extra keys; every extra key must be a field of
the config class (checked with a did-you-mean when `harness validate` runs), and with extra
keys the whole config is built once at validation too, so peft's own cross-field checks
are reported before anything trains. Params of typed fields only never import peft or
torch (planning a suite stays torch-free), so their cross-field rules are pydantic
validators here.

To add a peft method: write its params model (subclass PeftParams, typed common fields;
a field left at None means "peft's default"), call `peft_method(...)` with its config
class name and train defaults, and register the result in harness/catalog.py.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import Problem
from harness.methods.base import Applied, Method

# Set by every peft method itself; a suite that passes them is told so.
RESERVED = ("task_type", "peft_type", "inference_mode")

# (model, params) -> (model, info): runs before peft wraps the model (qlora quantizes here).
Prepare = Callable[[Any, BaseModel], tuple[Any, dict[str, Any]]]


class PeftParams(BaseModel):
    # extra keys go to the peft config; the method's extra_check rejects those it does not have.
    model_config = ConfigDict(extra="allow")


def config_fields(config: str) -> list[str]:
    import peft

    return sorted(f.name for f in dataclasses.fields(getattr(peft, config)) if not f.name.startswith("_"))


def config_kwargs(params: BaseModel, fixed: dict[str, Any], own_fields: tuple[str, ...],
                  family: str = "causal") -> dict[str, Any]:
    """The keyword arguments of the peft config: typed fields left at None fall back to
    peft's default, the method's own settings (own_fields) stay behind; the task type
    follows the model's family (an encoder's SEQ_CLS also trains its classification head)."""
    from harness.models.family import PEFT_TASK_TYPES

    typed = type(params).model_fields
    kwargs = {k: v for k, v in params.model_dump().items() if k not in own_fields and not (v is None and k in typed)}
    return {**kwargs, **fixed, "task_type": PEFT_TASK_TYPES[family]}


def peft_method(name: str, config: str, params_model: type[BaseModel], train_defaults: dict[str, Any], *,
                fixed: dict[str, Any] | None = None, own_fields: tuple[str, ...] = (), prepare: Prepare | None = None,
                load_kwargs: Callable[[BaseModel], dict[str, Any]] | None = None, gpu_optimizer: str | None = None) -> Method:
    """A Method that wraps the model with peft's `config` class (a name in the peft package).

    fixed: config values the method sets itself (dora: use_dora=True), not settable in params.
    own_fields: typed params the method consumes itself rather than passing to peft.
    """
    fixed = dict(fixed or {})

    def check(params: dict[str, Any]) -> list[Problem]:
        problems = [Problem(k, f"set by the {name} method itself; leave it out") for k in sorted(set(params) & {*RESERVED, *fixed})]
        extra = set(params) - set(params_model.model_fields) - {*RESERVED, *fixed}
        if extra:
            known = config_fields(config)
            for key in sorted(extra - set(known)):
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(Problem(key, f"not a field of peft's {config}{hint}"))
        if problems or not extra:  # typed fields alone are checked by pydantic; peft (and torch) stay unloaded
            return problems
        try:
            parsed = params_model.model_validate(params)
        except ValidationError:  # already reported by Method.validate, field by field
            return []
        import peft

        try:  # peft's own checks across fields, before anything loads or trains
            getattr(peft, config)(**config_kwargs(parsed, fixed, own_fields))
        except (ValueError, TypeError) as err:
            return [Problem("", f"peft's {config} rejects these params: {err}")]
        return []

    def apply(model, params: BaseModel, ctx) -> Applied:
        import peft

        peft_config = getattr(peft, config)(**config_kwargs(params, fixed, own_fields, ctx.family))
        info: dict[str, Any] = {}
        if prepare is not None:
            model, info = prepare(model, params)
        wrapped = peft.get_peft_model(model, peft_config)
        # The switches the method sets (dora: use_dora) tell it apart from its siblings.
        evidence: dict[str, Any] = {"peft_type": peft_config.peft_type.value, **{k: getattr(peft_config, k) for k in fixed}}
        if peft_config.is_prompt_learning:
            evidence["num_virtual_tokens"] = peft_config.num_virtual_tokens
        return Applied(wrapped, info={**evidence, **info})

    return Method(name=name, params_model=params_model, apply=apply, train_defaults=train_defaults,
                  extra_check=check, load_kwargs=load_kwargs, gpu_optimizer=gpu_optimizer)


class IA3Params(PeftParams):
    # None: peft's choice for the architecture (Llama: k_proj, v_proj, down_proj, the T-Few paper's).
    target_modules: str | list[str] | None = None
    # None: peft's choice (Llama: down_proj); these get the scaling on their input, not output.
    feedforward_modules: str | list[str] | None = None

    @model_validator(mode="after")
    def _feedforward_among_targets(self):
        # peft's own rule, checked here too so that validation needs no peft for it
        ff, targets = self.feedforward_modules, self.target_modules
        if isinstance(ff, list) and isinstance(targets, list) and not set(ff) <= set(targets):
            raise ValueError(f"feedforward_modules {sorted(set(ff) - set(targets))} must be among target_modules")
        return self


IA3 = peft_method("ia3", "IA3Config", IA3Params,
    # T-Few (Liu et al. 2022), which introduced IA3, trains at 3e-3: the vectors start at one
    # and are a few thousand values, so they need a rate ten times LoRA's to move in few steps.
    train_defaults={"learning_rate": 3.0e-3})


class PromptLearningParams(PeftParams):
    num_virtual_tokens: int = Field(20, gt=0)  # learned tokens put before every input


# The only trainable weights are a few vectors (input embeddings, or each layer's prefix
# keys and values) whose gradients are small next to their scale: Lester et al. (2021)
# trained prompts at 0.3 (Adafactor) and peft's examples use 3e-2 with AdamW. At LoRA's
# 2e-4 the prompt barely moves in a short run.
PROMPT_RATE = {"learning_rate": 3.0e-2}


class PromptTuningParams(PromptLearningParams):
    # RANDOM, or SAMPLE_VOCAB (embeddings of random vocabulary tokens), or TEXT: the
    # embeddings of prompt_tuning_init_text's tokens, which needs tokenizer_name_or_path.
    prompt_tuning_init: Literal["RANDOM", "SAMPLE_VOCAB", "TEXT"] = "RANDOM"
    prompt_tuning_init_text: str | None = None

    @model_validator(mode="after")
    def _text_init_needs_a_tokenizer(self):
        if self.prompt_tuning_init != "TEXT":
            return self
        if not self.prompt_tuning_init_text:
            raise ValueError("prompt_tuning_init TEXT needs prompt_tuning_init_text")
        if not (self.model_extra or {}).get("tokenizer_name_or_path"):
            # peft loads the tokenizer by name; methods are not handed the run's tokenizer
            # object, and a built-in model's tokenizer has no name or folder to load from.
            raise ValueError("prompt_tuning_init TEXT needs tokenizer_name_or_path (a hub id or an absolute "
                             "tokenizer folder; built-in models have none): give it, or use RANDOM or SAMPLE_VOCAB")
        return self


PROMPT_TUNING = peft_method("prompt_tuning", "PromptTuningConfig", PromptTuningParams, train_defaults=PROMPT_RATE)


class PTuningParams(PromptLearningParams):
    # A small reparameterising encoder, the size peft's P-tuning guide uses.
    encoder_hidden_size: int = Field(128, gt=0)
    encoder_reparameterization_type: Literal["MLP", "LSTM"] = "MLP"


P_TUNING = peft_method("p_tuning", "PromptEncoderConfig", PTuningParams, train_defaults=PROMPT_RATE)


class PrefixTuningParams(PromptLearningParams):
    # True: the prefix comes out of a two-layer MLP of width encoder_hidden_size (Li and
    # Liang's reparameterisation: steadier training, many more trainable weights).
    prefix_projection: bool = False
    encoder_hidden_size: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _projection_needs_a_width(self):
        if self.prefix_projection and self.encoder_hidden_size is None:
            raise ValueError("prefix_projection needs encoder_hidden_size (the MLP's width, e.g. 512)")
        return self


PREFIX_TUNING = peft_method("prefix_tuning", "PrefixTuningConfig", PrefixTuningParams, train_defaults=PROMPT_RATE)
