"""The tour's report in a real browser: headless Chromium takes each lesson's preview screenshot and
checks that every picture on the page loaded and that the page fits a laptop's width.

Chromium is optional (Debian: `apt-get install chromium`; `MINIGRAD_CHROMIUM=/path` names another
build). It runs with a fresh profile, no GPU, no sandbox (it may run as root in a container) and
no network of its own: it only reads the report's files.

    exe = find_chromium()                            # None when there is none
    screenshot(exe, page, png, width=1280, height=1800)
    state = inspect(exe, index)                      # {"images": [...], "scroll_width": ..., ...}
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium program: $MINIGRAD_CHROMIUM, else the first of NAMES on PATH, else None."""
    named = os.environ.get("MINIGRAD_CHROMIUM")
    if named:
        return named if Path(named).is_file() else shutil.which(named)
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(exe: str, args: list[str], timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="minigrad-chromium-") as profile:
        done = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                              timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium {' '.join(args[:-1])} failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return done.stdout


def screenshot(exe: str, page: Path, png: Path, width: int = 1280, height: int = 1800, timeout: float = 120) -> Path:
    """The top `height` pixels of `page` as it shows in a `width`-pixel-wide window."""
    png = Path(png).resolve()
    png.unlink(missing_ok=True)
    _run(exe, [f"--window-size={width},{height}", f"--screenshot={png}", "--virtual-time-budget=5000",
               Path(page).resolve().as_uri()], timeout)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {page}")
    return png


# Appended to a copy of the page: once everything has loaded, what a reader would see is written
# into the page itself, where --dump-dom reads it back.
_PROBE = """<script>
window.addEventListener("load", () => {
  const root = document.documentElement;
  const state = {
    scroll_width: root.scrollWidth, client_width: root.clientWidth,
    font_px: parseFloat(getComputedStyle(document.body).fontSize),
    sections: [...document.querySelectorAll("h2")].map(h => h.id),
    images: [...document.images].map(i => ({
      src: i.getAttribute("src"), loaded: i.complete && i.naturalWidth > 0,
      shown_width: i.clientWidth, natural_width: i.naturalWidth,
      section: (i.closest("body") && [...document.querySelectorAll("h2")].filter(
        h => h.compareDocumentPosition(i) & Node.DOCUMENT_POSITION_FOLLOWING).map(h => h.id).pop()) || ""})),
  };
  const out = document.createElement("pre");
  out.id = "minigrad-probe";
  out.textContent = JSON.stringify(state);
  document.body.appendChild(out);
});
</script>"""


def inspect(exe: str, page: Path, width: int = 1280, timeout: float = 120) -> dict:
    """What the page shows in a `width`-pixel-wide window once loaded: every <img> (its src, whether
    it loaded, its shown and natural width, the section it is in), the page's scroll width (wider
    than the window: a reader must scroll sideways), the body's font size and the section ids."""
    page = Path(page)
    probe = page.with_name(f".probe-{page.name}")   # beside the page, so relative links resolve the same
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    try:
        dom = _run(exe, [f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom",
                         probe.resolve().as_uri()], timeout)
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(r'<pre id="minigrad-probe">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"chromium: the page {page} did not finish loading (no probe result in its DOM)")
    return json.loads(html.unescape(found.group(1)))
