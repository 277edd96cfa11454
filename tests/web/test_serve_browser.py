"""The ``ganforge serve`` page in headless Chromium: pick a run, generate, animate, see errors.

Needs Debian's chromium + chromium-driver and the selenium package (the ``browser`` fixture in conftest.py).
In CI (CI=true) a missing browser fails the test with the install command; elsewhere it is skipped with that hint.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

WAIT_S = 90  # generation on a busy 2-core CI box

pytestmark = pytest.mark.browser


def wait_for(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(lambda d: condition(d), message=what)


def natural_size(driver, element_id: str) -> tuple[int, int]:
    """Pixel size of an <img> or of a <canvas>'s bitmap (the sample grid is drawn on a canvas)."""
    return tuple(driver.execute_script(
        "const i = document.getElementById(arguments[0]);"
        " return i.tagName === 'CANVAS' ? [i.width, i.height] : [i.naturalWidth, i.naturalHeight];", element_id))


def fill(driver, element_id: str, value: str) -> None:
    field = driver.find_element("id", element_id)
    field.clear()
    field.send_keys(value)


def message(driver) -> str:
    box = driver.find_element("id", "message")
    return box.text if box.is_displayed() else ""


def test_page_generates_animates_and_reports_bad_input(browser, server, tmp_path: Path) -> None:
    driver = browser
    driver.get(server.url + "#run=digits")
    wait_for(driver, lambda d: len(d.find_elements("css selector", "#runs tbody tr")) == 3, "the run list")
    assert "dcgan on digits5k" in driver.find_element("id", "run-info").text
    row = driver.find_element("css selector", "#runs tbody tr.selected")
    assert row.text.startswith("digits") and "fid 180" in row.text

    # Generate 10 images of seed 7: a 4x3 grid of 32 px tiles with 2 px gutters.
    fill(driver, "seed", "7")
    fill(driver, "num", "10")
    driver.find_element("id", "generate").click()
    wait_for(driver, lambda d: natural_size(d, "grid")[0] > 0, "the generated grid")
    assert natural_size(driver, "grid") == (138, 104)
    assert message(driver) == ""
    link = driver.find_element("id", "download")
    assert link.get_attribute("href").startswith("blob:") and link.get_attribute("download").endswith(".png")

    # The training pictures of the run are shown.
    wait_for(driver, lambda d: d.execute_script(
        "return [...document.querySelectorAll('img.artifact')].every(i => i.complete && i.naturalWidth > 0)"
        " && document.querySelectorAll('img.artifact').length >= 2"), "loss curves and progress.gif")

    # "random" picks a seed in range.
    driver.find_element("id", "random-seed").click()
    seed = int(driver.find_element("id", "seed").get_attribute("value"))
    assert 0 <= seed <= 2**31 - 1

    # Bad input: the server's message is shown and nothing breaks.
    fill(driver, "seed", "7")
    fill(driver, "num", "1000")
    driver.find_element("id", "generate").click()
    wait_for(driver, lambda d: message(d) != "", "an error message for 1000 images")
    assert message(driver) == "number of images must be between 1 and 256, got 1000"
    fill(driver, "num", "4")
    fill(driver, "seed", "-5")
    driver.find_element("id", "generate").click()
    wait_for(driver, lambda d: "seed" in message(d), "an error message for seed -5")
    assert message(driver) == "seed must be between 0 and 2147483647, got -5"

    # After fixing the input the page works again and the message goes away.
    fill(driver, "seed", "3")
    driver.find_element("id", "generate").click()
    wait_for(driver, lambda d: message(d) == "" and natural_size(d, "grid") == (70, 70), "a 2x2 grid")

    # Interpolation between two seeds, shown as a GIF.
    fill(driver, "seed-a", "1")
    fill(driver, "seed-b", "2")
    fill(driver, "frames", "6")
    fill(driver, "interp-num", "4")
    driver.find_element("id", "animate").click()
    wait_for(driver, lambda d: natural_size(d, "animation")[0] > 0, "the interpolation GIF")
    assert natural_size(driver, "animation") == (70, 70)
    driver.save_screenshot(str(tmp_path / "serve-digits.png"))

    # A conditional run offers its classes; choosing one still generates.
    driver.find_element("xpath", "//tbody/tr[td[1][text()='toy']]").click()
    wait_for(driver, lambda d: d.find_element("id", "class-row").is_displayed(), "the class selector")
    options = [o.text for o in driver.find_elements("css selector", "#class option")]
    assert options[0] == "all (cycled)" and options[4] == "3: mode3" and len(options) == 9
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "class")).select_by_value("3")
    fill(driver, "num", "64")
    driver.find_element("id", "generate").click()
    wait_for(driver, lambda d: natural_size(d, "grid") == (256, 256), "the scatter plot of the toy run")

    screenshot = tmp_path / "serve.png"
    assert driver.save_screenshot(str(screenshot))
    assert Image.open(screenshot).size[0] >= 1000

    # No script errors or CSP violations; failed requests are only the two deliberate 400s.
    logs = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    unexpected = [m for m in logs if "status of 400" not in m]
    assert unexpected == [], unexpected
    assert sum("status of 400" in m for m in logs) == 2
