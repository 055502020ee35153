"""End to end in a real headless Chromium: start the app, move a slider, see P(worst case) change."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = ROOT / "tests" / "output" / "explorer.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(data_copy):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs the Debian packages chromium and chromium-driver")
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    port = _free_port()
    env = dict(os.environ, RISKMODEL_APP_DRAWS="300", RISKMODEL_APP_CHAINS="2", RISKMODEL_DATA=str(data_copy))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def _settled(page, metric, *, quiet_ms: int = 1500, timeout_s: float = 60) -> str:
    """The metric's text once it has stopped changing for ``quiet_ms``."""
    value, stable_since, deadline = metric.inner_text(), time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        now = metric.inner_text()
        if now != value:
            value, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= quiet_ms / 1000:
            return value
    return value


@pytest.mark.slow
def test_slider_moves_p_worst_case_in_a_real_browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        metric = page.get_by_test_id("stMetricValue").first
        metric.wait_for(timeout=600_000)  # the first fit compiles the model
        before = metric.inner_text()
        expander = page.get_by_test_id("stExpander").filter(has_text="coordination")
        expander.get_by_text("coordination", exact=True).click()
        expander.get_by_text("mean and strength").click()
        thumb = expander.get_by_role("slider")
        try:
            thumb.wait_for(timeout=60_000)
        except Exception:  # keep the page for whoever debugs the failure
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            (SCREENSHOT.parent / "dom.html").write_text(page.content())
            raise
        before = _settled(page, metric)  # switching the mode reruns the page once (a rounded prior)
        start = time.perf_counter()
        thumb.focus()
        thumb.press("End")
        page.wait_for_function(
            "([sel, old]) => { const e = document.querySelector(sel); return e && e.innerText !== old; }",
            arg=["[data-testid=stMetricValue]", before],
            timeout=60_000,
        )
        elapsed = time.perf_counter() - start
        after = metric.inner_text()
        page.get_by_text("Release these assumptions as a prior version").wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert float(after.split()[0]) > float(before.split()[0]), (before, after)
    print(f"slider move to updated P(worst case): {elapsed:.2f} s; screenshot {SCREENSHOT}")
