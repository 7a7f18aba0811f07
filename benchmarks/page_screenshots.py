"""The web page's screenshots in docs/: the demo photo segmented, at desktop and at phone width.

Starts the page in this process (``pose2instance serve``'s App on a free port), runs the demo photo with its
keypoints file in Debian's Chromium (Playwright), and writes ``docs/serve_page.png`` (1280 px wide) and
``docs/serve_page_phone.png`` (390 px wide, the whole page).

    python benchmarks/page_screenshots.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
from pathlib import Path

from playwright import sync_api

from pose2instance.web import App, Models, PageServer

DOCS = Path(__file__).resolve().parents[1] / "docs"
SIZES = {"serve_page.png": (1280, 900, False), "serve_page_phone.png": (390, 844, True)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    args = p.parse_args()
    models = Models()
    models.preload()
    with tempfile.TemporaryDirectory() as folder, PageServer("127.0.0.1", 0, App(models, Path(folder))) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
            for name, (width, height, full) in SIZES.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(server.url)
                page.click("#demo")
                page.wait_for_function("document.querySelectorAll('#people tbody tr').length > 0", timeout=120_000)
                page.screenshot(path=str(DOCS / name), full_page=full)
                print(f"wrote {DOCS / name}")
            browser.close()
        server.shutdown()


if __name__ == "__main__":
    main()
