"""A real headless Chromium, driven by chromedriver over the W3C WebDriver protocol (plain HTTP and JSON).

The few commands the tests need (open a session, go to a URL, run a script, take a screenshot) are a handful
of HTTP calls, so httpx speaks them and the lock needs no browser-automation package. Debian's packages:
``apt-get install chromium chromium-driver`` (.ci/run installs them).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import httpx

from localdev.stack import free_port, wait_until

CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser_installed() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


class Browser:
    """One chromedriver process with one headless Chromium session in a window of ``width`` x ``height``."""

    def __init__(self, width: int, height: int, log: Path):
        port = free_port()
        self._driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=open(log, "ab"),  # noqa: SIM115
                                        stderr=subprocess.STDOUT)
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        try:
            wait_until(lambda: self._http.get("/status").json()["value"]["ready"], 20, "chromedriver")
            arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         f"--window-size={width},{height}"]
            session = self._command("POST", "/session", {"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": arguments}}}})
            self._session = f"/session/{session['sessionId']}"
        except Exception:
            self.close()
            raise

    def _command(self, method: str, path: str, payload: dict | None = None):
        answer = self._http.request(method, path, json=payload)
        value = answer.json()["value"]
        if answer.status_code != 200:
            raise RuntimeError(f"WebDriver {method} {path}: {value.get('error')}: {value.get('message')}")
        return value

    def open(self, url: str) -> None:
        self._command("POST", f"{self._session}/url", {"url": url})

    def run(self, script: str, *args):
        """The value of ``script`` (a function body: ``return ...``) run in the page."""
        return self._command("POST", f"{self._session}/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script: str, timeout_s: float = 15) -> None:
        wait_until(lambda: self.run(script), timeout_s, f"the page to satisfy {script!r}", interval_s=0.2)

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._command("GET", f"{self._session}/screenshot")))
        return path

    def close(self) -> None:
        try:
            if getattr(self, "_session", None):
                self._http.delete(self._session)
        finally:
            self._http.close()
            self._driver.terminate()
            try:
                self._driver.wait(10)
            except subprocess.TimeoutExpired:
                self._driver.kill()
                self._driver.wait()
