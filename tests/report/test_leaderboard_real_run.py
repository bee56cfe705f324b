"""The leaderboard of a real run (the tiny model: a baseline and three methods, two seeds), in
a terminal as Markdown and in a real headless Chromium as the page."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
from browser import CSS, assert_only_the_page_was_fetched, console_errors, drain, screenshot, start_browser
from click.testing import CliRunner

from harness.cli import main
from harness.records.store import read_record, write_record
from harness.report import build_table

SUITE = """\
name: board
description: A baseline and three methods on the tiny model, two seeds each.
model: tiny-random-llama
threads: 1
train:
  data: builtin:data2text
  template: {prompt: "{{input}}\\n", completion: "{{output}}"}
  limit: 32
  steps: 8
  batch_size: 4
  max_length: 128
  precision: fp32
seeds: [0, 1]
drift_probe: {prompts: 4, max_new_tokens: 8}
methods:
  - {name: full, method: full, train: {learning_rate: 1.0e-2}}
  - {name: lora-r4, method: lora, params: {r: 4, lora_alpha: 8}, train: {learning_rate: 2.0e-2}}
  - {name: ia3, method: ia3, train: {learning_rate: 3.0e-2}}
evals:
  - {name: d2t, data: builtin:data2text, split: test, limit: 8, max_new_tokens: 16, metrics: [rouge1, rougeL, bleu]}
  - name: reviews
    retention: true
    data: builtin:sentiment
    split: test
    limit: 16
    kind: classification
    label: label
    template: "Review: {{text}}\\nSentiment: ||| {{label}}"
    metrics: [accuracy]
"""


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """results/board of a real run, and the page `harness run` wrote at its end."""
    folder = tmp_path_factory.mktemp("board")
    (folder / "board.yaml").write_text(SUITE)
    page = folder / "board.html"
    done = invoke("run", str(folder / "board.yaml"), "--results", str(folder / "results"), "--leaderboard", str(page))
    assert done.exit_code == 0, done.output
    assert f"leaderboard: {page}" in done.output and page.is_file()
    return folder / "results" / "board", page


@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.mark.slow
def test_markdown_of_a_baseline_and_three_methods_reads_well_in_a_terminal(board):
    suite_dir, _ = board
    text = invoke("report", str(suite_dir), "--format", "md").output
    print(text)  # pytest -s shows it as a terminal does
    assert text.startswith("## board: leaderboard\n\nA baseline and three methods")
    tables = [b.splitlines() for b in text.split("\n\n") if b.startswith("|")]
    assert len(tables) == 4  # d2t, reviews, forgetting, cost
    for lines in tables:
        assert len({len(line) for line in lines}) == 1 and len(lines[0]) <= 120, lines
    names = [line.split("|")[1].strip() for line in tables[0][2:]]
    assert names[0] == "baseline" and sorted(names[1:]) == ["full (2 seeds)", "ia3 (2 seeds)", "lora-r4 (2 seeds)"]
    assert "± " in tables[0][3] and "(2 seeds)" in tables[0][3]  # seeds fold into mean ± std
    assert "**" in text  # a best value is marked
    assert "drift KL (nats)" in tables[2][0] and "reviews accuracy Δ" in tables[2][0]
    assert all(h in tables[3][0] for h in ("trainable", "peak RSS", "train time", "tokens/s", "train FLOPs", "MFU"))


def _order(driver) -> list[str]:
    return [b.get_attribute("data-search").split(" ")[0] for b in driver.find_elements(CSS, "#board tbody.variant")]


@pytest.mark.slow
def test_the_page_works_in_headless_chromium(board, browser):
    suite_dir, page = board
    browser.get(page.as_uri())
    table = build_table(suite_dir)

    # the table renders: one body per variant, the baseline first
    assert _order(browser) == [r.name for r in table.rows] and _order(browser)[0] == "baseline"
    assert len(browser.find_elements(CSS, "#board tr.cols th")) == 2 + len(table.columns)

    # a click on a header sorts by that column: trainable parameters, fewest first, then reversed
    header = browser.find_element(CSS, '#board th[data-key="cost:trainable_params"]')
    header.find_element(CSS, "button").click()
    by_params = sorted(table.rows, key=lambda r: (r.cells["cost:trainable_params"].value, table.rows.index(r)))
    assert _order(browser) == [r.name for r in by_params] and header.get_attribute("aria-sort") == "ascending"
    header.find_element(CSS, "button").click()
    assert _order(browser)[0] == by_params[-1].name and header.get_attribute("aria-sort") == "descending"

    # filtering by text keeps the baseline; a variant's seeds unfold
    browser.find_element(CSS, "#filter-text").send_keys("lora")
    shown = [b for b in browser.find_elements(CSS, "#board tbody.variant") if b.is_displayed()]
    assert sorted(b.get_attribute("data-method") for b in shown) == ["baseline", "lora"]
    lora = shown[0] if shown[0].get_attribute("data-method") == "lora" else shown[1]
    assert not any(tr.is_displayed() for tr in lora.find_elements(CSS, "tr.seed"))
    lora.find_element(CSS, "button.seeds").click()
    assert [tr.is_displayed() for tr in lora.find_elements(CSS, "tr.seed")] == [True, True]
    browser.find_element(CSS, "#filter-text").clear()
    browser.execute_script("document.getElementById('filter-text').dispatchEvent(new Event('input'))")

    # the charts draw: a Chart.js chart on each canvas, with data, and ink on the canvas
    for canvas in ("chart-quality", "chart-gain", "chart-loss"):
        drawn = browser.execute_script("""
            const canvas = document.getElementById(arguments[0]);
            const chart = Chart.getChart(canvas);
            if (!chart) return null;
            const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            let ink = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) ink++;
            return {points: chart.data.datasets.reduce((n, d) => n + d.data.length, 0), ink};""", canvas)
        assert drawn is not None and drawn["points"] > 0 and drawn["ink"] > 1000, (canvas, drawn)

    # the per-example view switches evals
    browser.find_element(CSS, "#example-eval option[value='1']").click()
    sets = browser.find_elements(CSS, ".example-set")
    assert [s.is_displayed() for s in sets] == [False, True]

    shot = screenshot(browser, "leaderboard.png")
    assert shot.stat().st_size > 10_000
    assert console_errors(browser) == []
    assert_only_the_page_was_fetched(browser, page.as_uri())


@pytest.mark.slow
def test_an_xss_payload_in_a_record_renders_as_text_and_runs_nothing(board, browser, tmp_path):
    suite_dir, _ = board
    hostile = tmp_path / "board"
    shutil.copytree(suite_dir, hostile)
    payloads = ["<script>window.__xss = 1</script>", '</textarea><img src=x onerror="window.__xss = 2">',
                "</script><script>window.__xss = 3</script>"]
    full = next(p.parent for p in hostile.glob("*/record.json") if read_record(p).name == "full")
    rows_path = full / "predictions" / "d2t.jsonl"
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    rows[0]["prediction"], rows[0]["references"] = payloads[0] + payloads[1], [payloads[2]]
    rows_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    failed = read_record(full / "record.json").model_copy(update={"status": "failed", "error": payloads[1],
                                                                  "variant_id": "ia3-broken", "name": "broken"})
    write_record(hostile / "ia3-broken", failed)
    (hostile / "suite.yaml").write_text(textwrap.dedent(f"""\
        name: board
        description: '{payloads[2]}'
        """))
    page = tmp_path / "hostile.html"
    assert invoke("report", str(hostile), "--out", str(page)).exit_code == 0

    drain(browser)  # the logs of the page before
    browser.get(page.as_uri())
    assert browser.execute_script("return window.__xss") is None
    text = browser.find_element(CSS, "body").text
    for payload in payloads:
        assert payload in text  # shown, as text
    assert browser.find_elements(CSS, "img") == []
    assert console_errors(browser) == []  # nothing even tried to run (CSP would have logged it)
    assert_only_the_page_was_fetched(browser, page.as_uri())
