"""The exported web page in headless Chromium, served by a plain static file server on 127.0.0.1.

The page must draw what ``ganforge generate`` draws (within 2/255 per pixel: ONNX Runtime's WASM kernels
round differently from PyTorch's), reproduce a picture from its URL, choose classes, animate, offer the
grid as a PNG, load nothing from beyond the loopback and log no error; ``ganforge serve`` shows the
same pixels for the same seed.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main
from ganforge.web.server import start_in_thread

pytestmark = pytest.mark.browser
WAIT_S = 90
NAMES = ["zero", "one", "two", "three"]


def export_web(run: Path, out: Path, runtime: Path) -> Path:
    assert main(["export", str(run), "--format", "web", "--out", str(out), "--runtime", str(runtime)]) == 0
    return out


def generated(run: Path, out: Path, *args: object) -> np.ndarray:
    assert main(["generate", str(run), "--out", str(out), "--no-progress", *map(str, args)]) == 0
    return np.asarray(Image.open(out).convert("RGB"))


@pytest.fixture(scope="module")
def digits_run(trained_run: Path, make_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained run's folder (curves, progress.gif, metrics) with a generator whose pictures span the
    pixel range: 4 training steps leave DCGAN's N(0, 0.02) init drawing flat grey, where pixel checks would
    prove little."""
    folder = tmp_path_factory.mktemp("web") / "digits"
    shutil.copytree(trained_run, folder)
    make_run(folder, width=8, z_dim=16, step=4, measure_norms=True)
    record = {"kind": "images", "step": 4, "fid": 180.5, "precision": 0.05,
              "protocol": {"num_real": 1000, "num_fake": 1000, "resize": "tf1-bilinear-299"}}
    (folder / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    return folder


@pytest.fixture(scope="module")
def digits_site(digits_run: Path, web_runtime: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_web(digits_run, tmp_path_factory.mktemp("web") / "site", web_runtime)


def canvas_pixels(driver, element_id: str = "grid") -> np.ndarray:
    url = driver.execute_script("return document.getElementById(arguments[0]).toDataURL('image/png')", element_id)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def wait_for_picture(driver, **params: str) -> None:
    """Until the grid shows exactly these parameters (seed, num, class, truncation) and nothing is running."""
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(d) -> bool:
        state = d.execute_script("return [document.getElementById('grid').dataset.picture || '{}',"
                                 " document.getElementById('message').textContent,"
                                 " document.getElementById('generate').disabled]")
        assert state[1] == "", f"the page says: {state[1]}"
        picture = json.loads(state[0])
        return not state[2] and all(picture.get(k) == v for k, v in params.items())

    WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(shown, message=f"a picture of {params}")


def assert_same_pixels(page: np.ndarray, expected: np.ndarray, levels: int = 2) -> None:
    assert page.shape == expected.shape
    first_tile = expected[2:34, 2:34]
    assert first_tile.std() > 20, "the reference picture is flat: the comparison would prove little"
    assert np.abs(page.astype(int) - expected.astype(int)).max() <= levels


def errors_and_foreign_requests(driver, base: str) -> tuple[list[str], list[str]]:
    logs = [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]]
    urls = driver.execute_script("return ['navigation', 'resource'].flatMap(t => performance.getEntriesByType(t))"
                                 ".map(e => e.name)")
    assert len(urls) > 3, urls  # the page, its scripts, the model and the runtime at least
    return logs, [u for u in urls if not u.startswith((base, "blob:" + base.rstrip("/"), "data:"))]


def test_exported_page_draws_what_generate_draws(browser, digits_run: Path, digits_site: Path, static_host,
                                                 tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    driver, base = browser, static_host(digits_site)
    driver.get(base + "#seed=7&num=10")
    wait_for_picture(driver, seed="7", num="10")
    assert_same_pixels(canvas_pixels(driver), generated(digits_run, tmp_path / "s7.png", "--seed", 7, "--num", 10))
    assert "dcgan on digits5k" in driver.find_element("id", "run-info").text
    assert driver.find_element("id", "class-row").is_displayed() is False  # unconditional: no class choice

    # Keyboard only: type a truncation, press Enter; the URL then reproduces the picture after a reload.
    driver.find_element("id", "truncation").send_keys("0.7", Keys.ENTER)
    wait_for_picture(driver, seed="7", num="10", truncation="0.7")
    picture = canvas_pixels(driver)
    assert_same_pixels(picture, generated(digits_run, tmp_path / "t.png", "--seed", 7, "--num", 10,
                                          "--truncation", 0.7))
    assert driver.execute_script("return location.hash") == "#seed=7&num=10&truncation=0.7"
    driver.refresh()
    wait_for_picture(driver, seed="7", num="10", truncation="0.7")
    np.testing.assert_array_equal(canvas_pixels(driver), picture)

    # The download link holds the same picture as a PNG.
    link = driver.find_element("id", "download")
    assert link.get_attribute("download").endswith("-seed7.png")
    png = driver.execute_async_script(
        "const [href, done] = arguments, img = new Image(); img.onerror = () => done('');"
        "img.onload = () => { const c = document.createElement('canvas'); [c.width, c.height] ="
        " [img.naturalWidth, img.naturalHeight]; c.getContext('2d').drawImage(img, 0, 0); done(c.toDataURL()); };"
        "img.src = href;", link.get_attribute("href"))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(png.split(",")[1]))).convert("RGB")),
                                  picture)

    # random picks a seed; an interpolation is animated on its canvas (2 images side by side).
    driver.find_element("id", "random-seed").click()
    assert 0 <= int(driver.find_element("id", "seed").get_attribute("value")) <= 2**31 - 1
    for field, value in (("seed-a", "1"), ("seed-b", "2"), ("frames", "4"), ("interp-num", "2")):
        driver.find_element("id", field).clear()
        driver.find_element("id", field).send_keys(value)
    driver.find_element("id", "animate").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element("id", "animation-canvas").is_displayed())
    assert driver.execute_script("const c = document.getElementById('animation-canvas'); return [c.width, c.height]") \
        == [70, 36]

    # Training curves, progress.gif and the metrics with their protocol, from the folder itself.
    assert driver.execute_script("const i = [...document.querySelectorAll('img.artifact')];"
                                 " return i.length >= 2 && i.every(x => x.complete && x.naturalWidth > 0)")
    assert "180" in driver.find_element("id", "metrics-table").text
    assert driver.execute_script("return [...document.querySelectorAll('input, select')]"
                                 ".every(e => e.labels && e.labels.length > 0)")

    # Readable on a phone: nothing wider than 375 px.
    driver.set_window_size(375, 900)
    assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    driver.save_screenshot(str(tmp_path / "phone.png"))

    errors, foreign = errors_and_foreign_requests(driver, base)
    assert errors == [] and foreign == []


def test_conditional_page_draws_the_requested_class(browser, make_run, web_runtime: Path, static_host,
                                                    tmp_path: Path) -> None:
    run = make_run(tmp_path / "cgan", channels=3, num_classes=4, class_names=NAMES, measure_norms=True)
    site = export_web(run, tmp_path / "site", web_runtime)
    driver, base = browser, static_host(site)
    driver.get(base + "#seed=3&num=8&class=2")
    wait_for_picture(driver, seed="3", num="8", **{"class": "2"})
    class_two = canvas_pixels(driver)
    assert_same_pixels(class_two, generated(run, tmp_path / "c2.png", "--seed", 3, "--num", 8, "--class", 2))
    options = [o.text for o in driver.find_elements("css selector", "#class option")]
    assert options == ["all (cycled)", "0: zero", "1: one", "2: two", "3: three"]

    # Every class in turn: one column per class, as generate lays it out.
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "class")).select_by_value("")
    driver.find_element("id", "generate").click()
    wait_for_picture(driver, seed="3", num="8", **{"class": ""})
    every = canvas_pixels(driver)
    assert_same_pixels(every, generated(run, tmp_path / "all.png", "--seed", 3, "--num", 8))
    assert not np.array_equal(every, class_two)
    errors, foreign = errors_and_foreign_requests(driver, base)
    assert errors == [] and foreign == []


def test_serve_page_and_exported_page_show_the_same_pixels(browser, digits_run: Path, digits_site: Path,
                                                            static_host, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(digits_run, runs / "digits")
    server = start_in_thread(runs)
    try:
        browser.get(server.url + "#run=digits&seed=5&num=6")  # a link with a seed shows its picture
        wait_for_picture(browser, seed="5", num="6")
        served = canvas_pixels(browser)
        errors, foreign = errors_and_foreign_requests(browser, server.url)
        assert errors == [] and foreign == []
    finally:
        server.shutdown()
        server.server_close()
    browser.get(static_host(digits_site) + "#seed=5&num=6")
    wait_for_picture(browser, seed="5", num="6")
    expected = generated(digits_run, tmp_path / "s5.png", "--seed", 5, "--num", 6)
    np.testing.assert_array_equal(served, expected)  # the server draws with generate's code
    assert_same_pixels(canvas_pixels(browser), expected)
