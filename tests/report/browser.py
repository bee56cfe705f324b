"""A real headless Chromium driven through chromedriver (selenium), for the leaderboard page.

Chromium is started with the background-networking switches off, so the only requests
the performance log can show are the page's own. Where Chromium, chromedriver or selenium
is missing the tests skip and say what to install; with HARNESS_REQUIRE_BROWSER set (as
.ci/run does) they fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--window-size=1400,1000"]
CSS = "css selector"  # selenium's By.CSS_SELECTOR, without importing selenium where it is missing
ARTIFACTS = Path(os.environ.get("HARNESS_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


def _missing() -> list[str]:
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    return missing


def start_browser():
    missing = _missing()
    if missing:
        reason = (f"the browser test needs {', '.join(missing)}: `apt-get install chromium chromium-driver` "
                  "and `pip install -e '.[dev]'` (.ci/run installs them)")
        if os.environ.get("HARNESS_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='harness-chromium-')}")  # a new, empty profile
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def console_errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def requests(driver) -> list[tuple[str, str]]:
    """(url, the document that asked for it) of every request since the last call, the browser's own included."""
    events = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    return [(m["params"]["request"]["url"], m["params"].get("documentURL", "")) for m in events
            if m["method"] == "Network.requestWillBeSent"]


def assert_only_the_page_was_fetched(driver, page_uri: str) -> None:
    seen = requests(driver)
    assert {url for url, document in seen if document == page_uri} == {page_uri}, seen
    # and nothing anywhere in the browser went out to a network (its own UI pages are chrome://)
    assert not [url for url, _ in seen if url.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp")], seen


def drain(driver) -> None:
    """Forget what the logs hold so far (reading them empties them)."""
    driver.get_log("browser")
    driver.get_log("performance")


def screenshot(driver, name: str) -> Path:
    """The whole page as a PNG under test-artifacts/ (CI keeps it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 80, 12000))
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path
