"""Logging set-up shared by the CLI and the worker processes: our messages at INFO on
stderr, libraries' chatter (advice about optional kernels, tokenizer notices) at ERROR."""

from __future__ import annotations

import logging
import sys
import warnings

NOISY = ("transformers", "peft", "datasets", "bitsandbytes", "httpx", "urllib3", "absl", "filelock")


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.ERROR)
    # peft calls an API transformers has renamed; the warning is for peft's authors.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")
