"""/docs as a reader sees it: the API server `make run` starts, and a real headless Chromium 1280 px wide.

The page renders /openapi.json in the browser, so only a browser shows what a reader meets: text that runs
off the side (a page that scrolls sideways) and the reStructuredText markup of docstrings (``like this``)
shown literally instead of as code. The screenshots stay in the test's tmp directory (or SCREENSHOT_DIR).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from localdev.stack import ROOT, free_port, wait_until
from tests.integration.browser import Browser, browser_installed

pytestmark = pytest.mark.integration

WIDTH, HEIGHT = 1280, 900

# What the reader's window shows: the widths of the page and of its viewport, the elements wider than the
# viewport (to name the culprit when it fails), the text, and the text of every code element.
MEASURE = """
const page = document.scrollingElement;
const overflowing = [...document.querySelectorAll("body *")]
  .filter((node) => node.getBoundingClientRect().right > page.clientWidth + 1)
  .slice(0, 5).map((node) => node.tagName + ": " + node.textContent.slice(0, 80));
return {scrollWidth: page.scrollWidth, clientWidth: page.clientWidth, innerWidth: window.innerWidth,
        overflowing: overflowing, text: document.body.innerText,
        code: [...document.querySelectorAll("code")].map((node) => node.textContent)};
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> str:
    """The API server alone: the page and the document need no AWS, Redis or provider."""
    log = tmp_path_factory.mktemp("docs-api") / "api.log"
    port = free_port()
    env = {**os.environ, "STAGE": "local", "API_KEYS": "docs-page-key", "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen([sys.executable, "-m", "localdev.api_server", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200, 60, "the API server")
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def browser(tmp_path):
    if not browser_installed():
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are missing: .ci/run installs them (chromium chromium-driver)")
        pytest.skip("no /usr/bin/chromium and chromedriver here: apt-get install chromium chromium-driver")
    chromium = Browser(WIDTH, HEIGHT, tmp_path / "chromedriver.log")
    yield chromium
    chromium.close()


def test_the_docs_page_fits_1280_px_and_shows_markup_as_code(api, browser, tmp_path):
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    browser.open(f"{api}/docs")
    browser.wait_for("return document.querySelectorAll('#schemas section').length > 0")

    page = browser.run(MEASURE)
    browser.screenshot(shots / "docs-1280-top.png")
    browser.run("document.getElementById('schemas').scrollIntoView();")
    browser.screenshot(shots / "docs-1280-schemas.png")

    assert page["innerWidth"] == WIDTH
    assert page["scrollWidth"] <= page["clientWidth"], f"scrolls sideways; wider than the window: {page['overflowing']}"
    assert "``" not in page["text"]
    assert "POST /api/sms" in page["code"]  # SmsAccepted's ``POST /api/sms``, shown as code
