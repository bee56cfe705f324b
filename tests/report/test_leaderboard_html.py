"""The HTML page without a browser: escaping, the content security policy, no outside address, size."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re

from recordsets import record, score, write

from harness.records.store import write_suite_copy
from harness.report import build_table, render
from harness.report.html import script_json

PAYLOADS = ['<script>window.__xss = 1</script>', '</textarea><img src=x onerror="window.__xss = 2">',
            '</script><script>window.__xss = 3</script>', '"><svg onload="window.__xss = 4">']


def _rows(predictions: list[str]) -> list[dict]:
    return [{"id": i, "prompt": f"input {i} {PAYLOADS[0]}", "prediction": p, "references": [PAYLOADS[1]],
             "scores": {"rouge1": i / 10}} for i, p in enumerate(predictions)]


def _hostile(folder):
    write(folder, [
        record("baseline", "baseline", metrics={"e": {"rouge1": 0.1}}, variant_id="base"),
        record("full", "full", metrics={"e": {"rouge1": 0.3}}, variant_id="full"),
        record("lora", "lora", status="failed", error=f"ValueError: {PAYLOADS[1]}", variant_id="lora"),
    ], predictions={"base": {"e": _rows(PAYLOADS)}, "full": {"e": _rows(list(reversed(PAYLOADS)))}})
    write_suite_copy(folder, f"name: demo\ndescription: '{PAYLOADS[3]}'\n")
    return folder


def _inline(page: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)


def test_every_text_from_models_and_data_is_escaped(tmp_path):
    page = render([build_table(_hostile(tmp_path))], "html")
    for payload in PAYLOADS:
        assert payload not in page
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
    assert "&lt;/textarea&gt;&lt;img src=x onerror=&#34;window.__xss = 2&#34;&gt;" in page
    # the data for the scripts holds no '<' at all, so nothing in it can end its <script> block
    data = re.search(r'<script type="application/json" id="harness-data">(.*?)</script>', page, re.S).group(1)
    assert "<" not in data and ">" not in data and json.loads(data)["suite"] == "demo"
    assert page.count("<script") == 3  # the data block, Chart.js, the page's own script


def test_script_json_round_trips_through_the_escapes():
    value = {"x": "</script><!-- & \u2028"}
    text = script_json(value)
    assert "<" not in text and "&" not in text and json.loads(text) == value


def test_the_policy_allows_exactly_the_pages_own_script_and_style(tmp_path):
    page = render([build_table(_hostile(tmp_path))], "html")
    csp = html.unescape(re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1))
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'" and "connect-src" not in directives  # so connections fall back to none
    digest = lambda s: "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"  # noqa: E731
    scripts = _inline(page, "script")
    assert len(scripts) == 2 and directives["script-src"].split() == [digest(s) for s in scripts]
    assert directives["style-src"].split() == [digest(s) for s in _inline(page, "style")]
    assert "unsafe" not in csp


def test_no_outside_address_is_referenced(tmp_path):
    page = render([build_table(_hostile(tmp_path))], "html")
    links = re.findall(r'\s(?:src|href|action)="([^"]*)"', page) + re.findall(r"url\(([^)]*)\)", page)
    assert links and all(link.startswith(("#", "data:")) for link in links), links
    assert "sourceMappingURL" not in page and "@import" not in page


def test_twenty_variants_with_long_outputs_stay_under_five_megabytes(tmp_path):
    evals = {f"e{k}": {"rouge1": 0.1, "bleu": 1.0} for k in range(3)}
    records, predictions = [], {}
    for v in range(20):
        name, method = ("baseline", "baseline") if v == 0 else (f"variant-{v}", "lora")
        curve = [[s, 3.0 - s / 3000] for s in range(1, 3001)]
        records.append(record(name, method, metrics={ev: {m: score(0.1 + v / 100, n=500) for m in ms} for ev, ms in evals.items()},
                              variant_id=f"v{v}", train_curve=curve if v else None))
        # longer than the page shows (prompts, outputs, references are cut), more rows than it shows
        predictions[f"v{v}"] = {ev: [{"id": i, "prompt": "p" * 4000, "prediction": f"{v} " + "x" * 1500,
                                      "references": ["r" * 1500] * 6, "scores": {"rouge1": (i * v % 7) / 7}}
                                     for i in range(60)] for ev in evals}
    write(tmp_path, records, predictions)
    page = render([build_table(tmp_path)], "html")
    assert len(page.encode("utf-8")) < 5_000_000, len(page.encode("utf-8"))
    assert page.count('class="example"') == 3 * 20  # 20 most telling examples per eval, the rest stay in the records


def test_multiple_choice_examples_show_the_letters_with_their_texts(tmp_path):
    rows = [{"id": 0, "prompt": "Question: How many seconds are there in 30 minutes?\nAnswer:", "prediction": "B",
             "references": ["A"], "choices": ["1,800", "180", "18,000", "1,860"], "scores": {"acc": 0.0}}]
    write(tmp_path, [record("baseline", "baseline", metrics={"arith": {"acc": 0.0}}, variant_id="b")],
          predictions={"b": {"arith": rows}})
    page = render([build_table(tmp_path)], "html")
    assert "B. 180</pre>" in page and "A. 1,800</li>" in page
