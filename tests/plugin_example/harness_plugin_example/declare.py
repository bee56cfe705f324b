"""What the entry points name: one Declaration per entry. Imports only harness.registry, so
`harness ls` and `harness validate` list and check these without importing torch."""

from harness.registry import Declaration

WORD_RECALL = Declaration(
    "harness_plugin_example.metric:word_recall",
    "share of the best reference's words (lowercased, whitespace-split) found in the prediction, 0-1",
    higher_is_better=True,
    scale="0-1",
    kind="generation",
    pairing="mean",
)

BIAS_ONLY = Declaration(
    "harness_plugin_example.method:BIAS_ONLY",
    "bias and norm tuning: only biases and norm weights train, every other weight frozen",
)
