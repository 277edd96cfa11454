"""Property-based: any query string and any headers get a clean answer from ``ganforge serve`` -- a 200 or
a 4xx/503 with a JSON ``{"error": ...}`` body -- never a 500, a hang or a dropped connection.

Budget: FUZZ_EXAMPLES requests per property (three properties) against one live server with a trained run
(derandomized, so CI is repeatable).
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganforge.web.server import GanforgeServer, start_in_thread

FUZZ_EXAMPLES = 150
ROUTES = ["/api/runs", "/api/generate", "/api/interpolate", "/api/artifact", "/", "/static/app.js", "/nope"]
PARAMS = ["run", "seed", "num", "class", "truncation", "download", "seed_a", "seed_b", "frames", "name"]
RUN_IDS = ["digits", "toy", "sweep/colour", "../digits", "digits/../../etc", "%2e%2e", "", "x" * 400]
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(str),
                    st.sampled_from(["", "0", "1", "64", "65", "1e3", "0x10", "nan", "-0", " 7 ", "１２"]))
param_values = st.one_of(numbers, st.sampled_from(RUN_IDS), st.text(max_size=30),
                         st.sampled_from(["all", "0,1,2", "mode0", "zero", "loss_curves.png", "final.png"]))
queries = st.lists(st.tuples(st.one_of(st.sampled_from(PARAMS), st.text(max_size=8)), param_values), max_size=6)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
headers = st.dictionaries(
    st.sampled_from(["Host", "Content-Length", "Transfer-Encoding", "Origin", "Accept", "Range", "Cookie",
                     "X-Forwarded-For", "Connection", "Expect", "User-Agent"]),
    st.one_of(header_text, st.sampled_from(["127.0.0.1", "localhost:1", "[::1]:80", "127.0.0.1.evil.example",
                                            "0", "-1", "99999999999999999999", "chunked", "100-continue"])),
    max_size=4)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, trained_run) -> GanforgeServer:
    import shutil

    root = tmp_path_factory.mktemp("fuzz-runs")
    shutil.copytree(trained_run, root / "digits")
    server = start_in_thread(root)
    yield server
    server.shutdown()
    server.server_close()


def request(server: GanforgeServer, path: str, headers: dict[str, str]) -> tuple[int, bytes, str]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        connection.putrequest("GET", path, skip_host="Host" in headers, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Content-Type") or ""
    finally:
        connection.close()


def assert_clean(status: int, body: bytes, content_type: str) -> None:
    assert status == 200 or 400 <= status < 500 or status == 503, (status, body[:300])
    if status != 200:
        assert content_type.startswith("application/json"), content_type
        document = json.loads(body)
        assert set(document) == {"error"} and document["error"] and "\n" not in document["error"]


@FUZZ
@given(st.sampled_from(ROUTES), queries)
def test_any_query_gets_a_clean_answer(fuzz_server: GanforgeServer, route: str, pairs: list) -> None:
    query = "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in pairs)
    assert_clean(*request(fuzz_server, f"{route}?{query}" if query else route, {}))


@FUZZ
@given(st.sampled_from(["/api/generate", "/api/interpolate", "/api/artifact"]),
       st.dictionaries(st.sampled_from(PARAMS[1:]), param_values, max_size=4))
def test_any_parameters_of_a_real_run_get_a_clean_answer(fuzz_server: GanforgeServer, route: str,
                                                         params: dict[str, str]) -> None:
    query = "&".join(f"{key}={quote(value, safe='')}" for key, value in {"run": "digits", **params}.items())
    assert_clean(*request(fuzz_server, f"{route}?{query}", {}))


@FUZZ
@given(st.sampled_from(["/api/runs", "/api/generate?run=digits&num=2", "/"]), headers)
def test_any_headers_get_a_clean_answer(fuzz_server: GanforgeServer, path: str, extra: dict[str, str]) -> None:
    if "Content-Length" in extra or "Transfer-Encoding" in extra:
        extra = {**extra, "Connection": "close"}  # the body the header announces never comes
    assert_clean(*request(fuzz_server, path, extra))
