"""Render an HTML report to a PNG with headless Chromium (for READMEs): the first screenful by default.

    python examples/screenshot_report.py examples/digits5k-study/report.html docs/images/compare.png

Needs Debian's chromium and chromium-driver (`make browser`) and selenium.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def screenshot(report: Path, out: Path, width: int, height: int | None) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    with tempfile.TemporaryDirectory(prefix="ganforge-chromium-") as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height or 1000}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(report.resolve().as_uri())
            if height is None:  # the whole page
                driver.set_window_size(width, driver.execute_script("return document.body.scrollHeight") + 40)
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
        finally:
            driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1100, help="0 = the whole page")
    args = parser.parse_args()
    screenshot(args.report, args.out, args.width, args.height or None)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
