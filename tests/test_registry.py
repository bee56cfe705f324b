"""The lazy registries: names, did-you-mean, and nothing heavy imported to list them."""

from __future__ import annotations

import pytest

from harness.registry import METHODS, METRICS, PluginError, Registry, UnknownName


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownName, match=r"unknown method 'lorra'; did you mean 'lora'\? known: .*baseline, .*lora"):
        METHODS.get("lorra")


def test_no_suggestion_when_nothing_is_close():
    assert "did you mean" not in METRICS.unknown_message("zzzzzz")


def test_double_registration_is_refused():
    r = Registry("thing")
    r.register("a", "x:y", "help")
    with pytest.raises(PluginError, match="registered twice"):
        r.register("a", "x:z", "help")


