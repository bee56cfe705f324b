"""Other low-rank adapters through peft, each one registration on the shared plumbing
(peft_methods.peft_method): VeRA and LoKr. Their common fields are typed here (checked
without peft); any other field of the peft config passes through params.

* VeRA (Kopiczko et al., 2024): one pair of frozen random low-rank matrices shared by every
  adapted layer; each layer trains only two scaling vectors, so it trains far fewer
  parameters than LoRA at the same rank. The paper trains the vectors at rates of 1e-3 to
  1e-2, well above LoRA's.
* LoKr (LyCORIS): the weight update as a Kronecker product of two small factors (the larger
  one itself low-rank), trained at LoRA-like rates.
"""

from __future__ import annotations

from pydantic import Field

from harness.methods.peft_methods import PeftParams, peft_method


class VeraParams(PeftParams):
    r: int = Field(256, gt=0)  # the shared random matrices' rank: cheap, since only the vectors train
    vera_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: str | list[str] | None = None  # None: peft's default for the architecture


class LokrParams(PeftParams):
    r: int = Field(8, gt=0)
    alpha: float = Field(8, gt=0)
    rank_dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: str | list[str] | None = "all-linear"


VERA = peft_method("vera", "VeraConfig", VeraParams, {"learning_rate": 4.0e-3})
LOKR = peft_method("lokr", "LoKrConfig", LokrParams, {"learning_rate": 2.0e-4})
