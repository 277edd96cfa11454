"""The JSON/PNG API of ``ganforge serve``, over real HTTP on 127.0.0.1 (port 0)."""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.web.server import GanforgeServer


def image_of(body: bytes) -> Image.Image:
    return Image.open(io.BytesIO(body))


def test_runs_are_listed_with_model_dataset_steps_metrics_and_artifacts(fetch) -> None:
    status, headers, body = fetch("/api/runs")
    assert status == 200 and headers["content-type"] == "application/json"
    document = json.loads(body)
    runs = {run["id"]: run for run in document["runs"]}
    assert set(runs) == {"digits", "toy", "sweep/colour"}
    digits = runs["digits"]
    assert (digits["model"], digits["dataset"], digits["steps"], digits["kind"]) == ("dcgan", "digits5k", 4, "image")
    assert digits["best"] == {"fid": {"value": 180.5, "step": 4}, "precision": {"value": 0.1, "step": 2}}
    assert {"loss_curves.png", "progress.gif"} <= set(digits["artifacts"])
    assert runs["toy"]["num_classes"] == 8 and runs["toy"]["class_names"][3] == "mode3"
    assert runs["sweep/colour"]["ema"] is True
    assert document["limits"]["max_images"] == 256


def test_the_page_and_its_assets_are_served_with_a_strict_policy(fetch) -> None:
    status, headers, body = fetch("/")
    assert status == 200 and b"<title>ganforge</title>" in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    for path in ("/static/app.js", "/static/style.css"):
        assert fetch(path)[0] == 200


def test_generate_returns_a_png_grid_of_the_requested_size(fetch) -> None:
    query = urlencode({"run": "digits", "seed": 3, "num": 10})
    status, headers, body = fetch(f"/api/generate?{query}")
    assert status == 200 and headers["content-type"] == "image/png"
    assert image_of(body).size == (4 * 34 + 2, 3 * 34 + 2)
    assert fetch(f"/api/generate?{query}")[2] == body  # same seed, same bytes
    assert fetch(f"/api/generate?{urlencode({'run': 'digits', 'seed': 4, 'num': 10})}")[2] != body
    download = fetch(f"/api/generate?{query}&download=1")[1]
    assert download["content-disposition"] == 'attachment; filename="digits-seed3-n10.png"'


def test_generate_matches_the_command_line(fetch, runs_dir: Path, tmp_path: Path) -> None:
    from ganforge.cli import main

    out = tmp_path / "cli.png"
    assert main(["generate", str(runs_dir / "digits"), "--num", "9", "--seed", "11", "--out", str(out)]) == 0
    body = fetch(f"/api/generate?{urlencode({'run': 'digits', 'seed': 11, 'num': 9})}")[2]
    assert body == out.read_bytes()


def test_conditional_class_selection_and_points(fetch, error_of) -> None:
    status, _, body = fetch(f"/api/generate?{urlencode({'run': 'toy', 'num': 64, 'class': 'mode2'})}")
    assert status == 200 and image_of(body).size == (256, 256)
    status, _, body = fetch(f"/api/generate?{urlencode({'run': 'toy', 'num': 8, 'class': 8})}")
    assert status == 400 and "out of range" in error_of(body)
    status, _, body = fetch(f"/api/generate?{urlencode({'run': 'digits', 'class': 1})}")
    assert status == 400 and "unconditional" in error_of(body)


def test_interpolation_returns_an_animated_gif(fetch, error_of) -> None:
    query = urlencode({"run": "digits", "seed_a": 1, "seed_b": 2, "frames": 6, "num": 4})
    status, headers, body = fetch(f"/api/interpolate?{query}")
    assert status == 200 and headers["content-type"] == "image/gif"
    gif = image_of(body)
    assert gif.n_frames == 6 and gif.size == (70, 70)
    too_many = urlencode({"run": "digits", "seed_a": 1, "seed_b": 2, "frames": 60, "num": 64})
    status, _, body = fetch(f"/api/interpolate?{too_many}")
    assert status == 400 and "images x frames" in error_of(body)


def test_training_artifacts_are_served_from_a_fixed_list(fetch, error_of) -> None:
    status, headers, body = fetch("/api/artifact?run=digits&name=loss_curves.png")
    assert status == 200 and headers["content-type"] == "image/png" and image_of(body).format == "PNG"
    assert fetch("/api/artifact?run=digits&name=progress.gif")[1]["content-type"] == "image/gif"
    status, _, body = fetch("/api/artifact?run=digits&name=config.yaml")
    assert status == 400 and "unknown artifact" in error_of(body)
    status, _, body = fetch("/api/artifact?run=digits&name=fid_curve.png")
    assert status == 404 and "no fid_curve.png" in error_of(body)


@pytest.mark.parametrize("run_id", [
    "../digits", "..", "digits/..", "sweep/../digits", "/etc/passwd", "/tmp", "digits/../../etc",
    "%2e%2e%2fdigits", "%2E%2E/%2E%2E/etc/passwd", "..%2fdigits", "digits%00", "C:%5cWindows", ".", "./digits",
])
def test_paths_instead_of_run_ids_are_rejected(fetch, error_of, run_id: str) -> None:
    for endpoint in ("generate", "interpolate", "artifact"):
        extra = "&name=loss_curves.png" if endpoint == "artifact" else ""
        status, headers, body = fetch(f"/api/{endpoint}?run={run_id}{extra}")
        assert status == 400, (endpoint, run_id, status)
        assert headers["content-type"] == "application/json"
        assert "run ID" in error_of(body)


def test_run_ids_not_in_the_listing_are_unknown(fetch, error_of) -> None:
    status, _, body = fetch("/api/generate?run=sweep")  # a real folder under RUNS_DIR, but not a run
    assert status == 404 and "no run 'sweep'" in error_of(body)


@pytest.mark.parametrize("path", [
    "/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/../../etc/passwd",
    "/static/", "/static", "/digits/generator.json", "/api/", "/api/runs/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd", "/web/server.py", "/static/app.js/..",
])
def test_no_file_outside_the_fixed_list_is_served(fetch, error_of, path: str) -> None:
    status, _, body = fetch(path)
    assert status == 404 and error_of(body) == "not found"
    assert b"root:" not in body


def test_symlinks_escaping_runs_dir_are_not_followed(runs_dir: Path, tmp_path: Path, fetch, error_of) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    os.symlink(runs_dir / "digits", runs_dir / "linked")  # a symlinked run folder: not listed
    os.symlink(outside / "secret.txt", runs_dir / "toy" / "loss_curves.png")  # a planted artifact link
    runs = {run["id"]: run for run in json.loads(fetch("/api/runs")[2])["runs"]}
    assert "linked" not in runs
    assert "loss_curves.png" not in runs["toy"]["artifacts"]
    status, _, body = fetch("/api/artifact?run=toy&name=loss_curves.png")
    assert status == 404 and b"secret" not in body
    status, _, body = fetch("/api/generate?run=linked")
    assert status == 404


@pytest.mark.parametrize(("query", "message"), [
    ({"num": 1000}, "between 1 and 256"),
    ({"num": 0}, "between 1 and 256"),
    ({"num": "1e3"}, "whole number"),
    ({"num": "ten"}, "whole number"),
    ({"seed": -5}, "between 0 and 2147483647"),
    ({"seed": 2**31}, "between 0 and 2147483647"),
    ({"seed": "9" * 400}, "whole number"),
    ({"seed": "1.5"}, "whole number"),
    ({"truncation": 0}, "truncation"),
    ({"truncation": "-1"}, "truncation"),
    ({"truncation": "inf"}, "truncation"),
    ({"truncation": "nan"}, "truncation"),
    ({"truncation": 100}, "truncation"),
    ({"nonsense": 1}, "unknown parameter 'nonsense'"),
])
def test_out_of_range_numbers_get_a_400_with_a_message(fetch, error_of, query: dict, message: str) -> None:
    status, headers, body = fetch(f"/api/generate?{urlencode({'run': 'digits', **query})}")
    assert status == 400 and headers["content-type"] == "application/json"
    assert message in error_of(body)


@pytest.mark.parametrize(("query", "message"), [
    ({"frames": 61}, "frames must be between 2 and 60"),
    ({"frames": 1}, "frames must be between 2 and 60"),
    ({"seed_a": -1}, "first seed"),
    ({"seed_a": 4, "seed_b": 4}, "different seeds"),
    ({"num": 300}, "samples per frame"),
])
def test_interpolation_bounds(fetch, error_of, query: dict, message: str) -> None:
    status, _, body = fetch(f"/api/interpolate?{urlencode({'run': 'digits', **query})}")
    assert status == 400 and message in error_of(body)


def test_repeated_parameters_and_other_methods_are_refused(fetch, error_of) -> None:
    status, _, body = fetch("/api/generate?run=digits&seed=1&seed=2")
    assert status == 400 and "more than once" in error_of(body)
    status, _, body = fetch("/api/generate?run=digits", method="POST")
    assert status == 405


def test_dns_rebinding_hosts_are_refused_on_loopback(fetch, error_of) -> None:
    status, _, body = fetch("/api/runs", headers={"Host": "evil.example:7860"})
    assert status == 400 and "Host" in error_of(body)
    assert fetch("/api/runs", headers={"Host": "localhost:7860"})[0] == 200


@pytest.mark.parametrize("host", ["127.0.0.1.evil.example", "127.0.0.1.evil.example:7860", "127.attacker.test",
                                  "localhost.evil.example", "localhost:abc", "[::1]x", "", "0x7f.evil:80"])
def test_rebinding_names_that_look_like_loopback_are_refused(fetch, error_of, host: str) -> None:
    status, _, body = fetch("/api/runs", headers={"Host": host})
    assert status == 400 and "Host" in error_of(body)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2:80", "127.255.0.1:7860", "LOCALHOST:1", "[::1]:7860",
                                  "localhost"])
def test_loopback_names_and_addresses_are_served(fetch, host: str) -> None:
    assert fetch("/api/runs", headers={"Host": host})[0] == 200


def test_a_get_with_a_body_is_refused_and_its_body_never_parsed(server) -> None:
    """The body of a GET must not be read as a second request on the kept-alive connection."""
    import socket

    smuggled = b"GET /api/runs?smuggled=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    request = (b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + str(len(smuggled)).encode()
               + b"\r\n\r\n" + smuggled)
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=60) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400") and b"must not carry a body" in received
    assert received.count(b"HTTP/1.1 ") == 1, "the body was answered as a request of its own"


def test_the_server_keeps_serving_after_bad_input_and_under_concurrency(fetch) -> None:
    for bad in ("/api/generate?run=digits&num=-1", "/api/generate?run=..", "/%%%", "/api/generate?run=digits&seed=x"):
        assert fetch(bad)[0] in (400, 404)
    results: list[int] = []

    def one(seed: int) -> None:
        results.append(fetch(f"/api/generate?run=digits&num=4&seed={seed}")[0])

    threads = [threading.Thread(target=one, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8
    assert fetch("/api/runs")[0] == 200


def test_a_missing_runs_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="not a folder"):
        GanforgeServer(tmp_path / "nope", port=0)


def test_the_serve_command_starts_on_loopback_and_stops_cleanly_on_ctrl_c(runs_dir: Path) -> None:
    import re
    import signal
    import subprocess
    import sys
    import urllib.request

    # A shell that starts jobs in the background (nohup, `&` without job control) hands them SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler: give the server Ctrl-C as a terminal would.
    process = subprocess.Popen([sys.executable, "-m", "ganforge", "serve", str(runs_dir), "--port", "0", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = process.stdout.readline()
        match = re.search(r"serving 3 run\(s\) from .* at (http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "api/runs", timeout=60) as response:
            assert len(json.loads(response.read())["runs"]) == 3
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and "stopped" in output


def test_the_serve_command_rejects_a_bad_port(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ganforge.cli import main

    assert main(["serve", str(runs_dir), "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
