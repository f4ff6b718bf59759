"""The apps in a real browser: ``audiointerp explore`` (Voila) and the listening page.

Headless Chromium from the system (Debian's ``chromium`` package) driven by Playwright for
Python; Playwright's own browser downloads are never used. Without a browser the tests are
skipped with a message saying how to install one; under CI (``CI=true``) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from experiment_fixtures import session_setup

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("AUDIOINTERP_CHROMIUM", "/usr/bin/chromium")
INSTALL = (
    "install a browser with `apt-get update && apt-get install -y chromium` (Debian) and "
    "Playwright with `pip install -r requirements-dev.txt`"
)
#: Voila executes the notebook (imports torch, loads the model) before the page shows.
PAGE_TIMEOUT_MS = 180_000

pytestmark = pytest.mark.slow


def _browser_path() -> str:
    """The Chromium executable, or skip (fail under CI) saying how to install one."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("Playwright is not installed")
    path = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if not path:
        problems.append(f"no Chromium at {CHROMIUM}")
    if problems:
        message = f"{'; '.join(problems)}: {INSTALL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests must run under CI: {message}")
        pytest.skip(message)
    return str(path)


@pytest.fixture(scope="module")
def browser():
    path = _browser_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True)
        yield b
        b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"audiointerp explore exited with {proc.returncode}:\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"the explorer did not listen on port {port} in {timeout_s} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``audiointerp explore`` on the tiny setup, as a user starts it; stopped afterwards."""
    _browser_path()  # skip before starting a server nobody can look at
    tiny = session_setup(tmp_path_factory)
    port = _free_port()
    log = tmp_path_factory.mktemp("explore") / "server.log"
    cmd = [sys.executable, "-m", "audiointerp", "explore", "--weights", tiny.models["mel"]]
    cmd += ["--data", str(tiny.data), "--port", str(port)]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}/", tiny, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# Records, from page load on, every status text and whether a visible image was ever broken.
WATCH = """
() => {
  window.__seen = {status: [], broken: 0};
  const check = () => {
    for (const img of document.images) {
      const shown = img.offsetParent !== null;
      if (shown && img.complete && img.naturalWidth === 0) window.__seen.broken += 1;
    }
    const s = document.querySelector('.audiointerp-status');
    if (s) window.__seen.status.push(s.innerText);
  };
  new MutationObserver(check).observe(document.body,
      {subtree: true, childList: true, attributes: true, characterData: true});
  check();
}
"""

AUDIO_DURATIONS = """
async (selector) => {
  const els = Array.from(document.querySelectorAll(selector));
  return await Promise.all(els.map(a => new Promise(resolve => {
    if (a.readyState >= 1) { resolve(a.duration); return; }
    a.addEventListener('loadedmetadata', () => resolve(a.duration), {once: true});
    a.addEventListener('error', () => resolve(-1), {once: true});
    a.preload = 'metadata';
    a.load();
  })));
}
"""


def _shown_image_ok(page, selector: str) -> bool:
    return page.eval_on_selector(
        selector, "img => img.offsetParent !== null && img.complete && img.naturalWidth > 0"
    )


def test_explorer_in_the_browser_loads_a_clip_and_computes(browser, served, tmp_path):
    url, tiny, log = served
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(url, timeout=PAGE_TIMEOUT_MS, wait_until="domcontentloaded")
    load = page.locator(".audiointerp-load")
    load.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    page.evaluate(WATCH)
    # Before a clip is loaded: nothing to compute, no image shown (so none is broken).
    assert page.locator(".audiointerp-compute").is_disabled()
    assert not page.locator(".audiointerp-clip-image").is_visible()
    assert not page.locator(".audiointerp-result-image").is_visible()

    wanted = sorted(p.stem for p in (tiny.data / "audio").glob("*.wav"))[1]
    page.locator(".audiointerp-source button", has_text="by name").click()
    name = page.locator(".audiointerp-name input")
    name.fill(wanted)
    name.press("Enter")
    load.click()
    page.wait_for_function(
        "() => { const i = document.querySelector('.audiointerp-clip-image');"
        " return i && i.offsetParent !== null && i.complete && i.naturalWidth > 0; }"
    )
    assert wanted in page.locator(".audiointerp-status").inner_text()
    assert "Hz" in page.locator(".audiointerp-clip-info").inner_text()  # file -> model input

    page.locator(".audiointerp-method select").select_option("gradcam")
    page.locator(".audiointerp-compute").click()
    page.wait_for_function(
        "() => { const i = document.querySelector('.audiointerp-result-image');"
        " return i && i.offsetParent !== null && i.complete && i.naturalWidth > 0; }"
    )
    # The status line is a separate widget message: it may arrive just after the image.
    page.wait_for_function(
        "() => (document.querySelector('.audiointerp-status') || {}).innerText?.includes('done')"
    )
    assert _shown_image_ok(page, ".audiointerp-clip-image")
    players = [".audiointerp-original-audio"] + [
        f".audiointerp-audio-{k}" for k in ("in", "out", "slice")
    ]
    for selector in players:
        assert page.locator(selector).is_visible(), selector
    durations = page.evaluate(AUDIO_DURATIONS, "audio")
    assert len(durations) == 4 and all(d > 0 for d in durations), durations
    seen = page.evaluate("() => window.__seen")
    assert any("computing" in s for s in seen["status"]), seen["status"]
    assert any("loading" in s for s in seen["status"]), seen["status"]
    assert seen["broken"] == 0
    shot = Path(os.environ.get("AUDIOINTERP_SCREENSHOTS", tmp_path)) / "explorer.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()


def test_listening_page_opens_from_a_file_url(browser, tmp_path_factory, tmp_path):
    from audiointerp.experiments.interactive.illustrate import illustrate_clip

    tiny = session_setup(tmp_path_factory)
    ill = illustrate_clip(
        None,
        models={"mel": tiny.models["mel"]},
        data=tiny.data,
        out_dir=tmp_path / "ill",
        methods=["saliency", "slice"],
        masks=["minmax", "bin"],
        duration_s=1.0,
        dpi=40,
    )
    page = browser.new_page()
    page.goto(ill.html.resolve().as_uri())
    images = page.evaluate(
        "() => Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
    )
    assert images and all(images)
    durations = page.evaluate(AUDIO_DURATIONS, "audio")
    # original + per method (slice + 2 masks x in/out)
    assert len(durations) == 1 + 2 * (1 + 2 * 2)
    assert all(abs(d - 1.0) < 0.05 for d in durations), durations
    page.close()
