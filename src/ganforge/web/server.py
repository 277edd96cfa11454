"""``ganforge serve``: a small web page to browse runs and sample their generators.

Why the standard library and not Gradio (the issue's suggestion): Gradio pulls in ~100 MB of
dependencies (FastAPI, uvicorn, pandas, its own frontend bundle), phones home for analytics and
version checks and loads fonts from the internet unless told not to, which breaks or leaks on the
offline and air-gapped machines GANs are often trained on. What this page needs is tiny: list runs,
return a PNG or a GIF for a handful of bounded numbers. ``http.server.ThreadingHTTPServer``, one
static HTML/JS page and a JSON/PNG API do that with no extra dependency, no network access, and a
surface small enough to secure line by line:

- runs are addressed by the ID from the listing (see :mod:`ganforge.web.runs`), never by a path;
- generators load from safetensors only, after a header check (see :mod:`ganforge.web.render`);
- every number is parsed strictly and bounded; bad input gets HTTP 400 with ``{"error": message}``,
  which the page shows, and the server carries on;
- only a fixed set of static files and run artifacts is served: no directory listing;
- loopback by default, and then only requests whose Host header names the loopback (DNS rebinding);
- a strict Content-Security-Policy: the page runs only its own script and loads nothing external.

Generators are loaded once per run and cached (LRU, thread-safe); inference runs under
``torch.inference_mode`` holding the generator's lock, and a semaphore bounds how many requests
compute at once so that a burst queues instead of exhausting memory.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import traceback
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

from ganforge.checkpoints import CheckpointChoice, is_checkpoint_file, resolve_checkpoint
from ganforge.errors import GanforgeError
from ganforge.loader import load_generator
from ganforge.models.io import weights_file
from ganforge.sampling import MAX_SEED, MAX_TRUNCATION, MIN_TRUNCATION
from ganforge.viz import encode_gif, encode_png
from ganforge.web.frontend import read_file, serve_routes
from ganforge.web.hosts import host_header_name, is_loopback_name
from ganforge.web.params import ApiError, class_param, int_param, parse_query, truncation_param
from ganforge.web.render import interpolation_pictures, sample_picture
from ganforge.web.runs import artifacts, check_run_id, find_runs, run_file, run_summary

if TYPE_CHECKING:
    from ganforge.loader import LoadedGenerator
    from ganforge.web.runs import RunEntry

if TYPE_CHECKING:  # torch and the checkpoint module load with the first generator, not with --help
    import torch

    from ganforge.checkpoints import CheckpointChoice

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


class Limits(TypedDict):
    max_images: int
    max_seed: int
    min_frames: int
    max_frames: int
    max_interpolation_images: int
    min_truncation: float
    max_truncation: float


# Request bounds: a request costs at most a few seconds of CPU and a few MB of memory.
LIMITS: Limits = {
    "max_images": 256,
    "max_seed": MAX_SEED,
    "min_frames": 2,
    "max_frames": 60,
    "max_interpolation_images": 1024,  # samples per frame x frames, for image models
    "min_truncation": MIN_TRUNCATION,
    "max_truncation": MAX_TRUNCATION,
}
MAX_CONCURRENT_JOBS = 2  # matches a small CPU box; more threads would only contend for the same cores
JOB_WAIT_S = 120.0
CACHE_SIZE = 8
STATIC_FILES = serve_routes()  # the front-end shared with exported pages (web/frontend.py)
CONTENT_TYPES = {".png": "image/png", ".gif": "image/gif"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
class GeneratorCache:
    """Loaded generators by run ID, reloaded when the weights file changes, least recently used evicted.

    ``choice`` is the checkpoint ``ganforge serve --step/--checkpoint`` picked (default: the run's
    generator.safetensors); ``device`` where the generators run."""

    def __init__(self, size: int = CACHE_SIZE, choice: CheckpointChoice | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.size = size
        self.choice = choice or CheckpointChoice()
        self.device = device
        self._items: OrderedDict[str, tuple[float, LoadedGenerator]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def _weights_file(self, folder: Path) -> Path:
        path = folder if self.choice.is_default else resolve_checkpoint(folder, self.choice)
        return path if is_checkpoint_file(path) else weights_file(path)

    def get(self, run_id: str, folder: Path) -> LoadedGenerator:
        weights = self._weights_file(folder)
        try:
            stamp = weights.stat().st_mtime
        except OSError:
            raise GanforgeError(f"this run has no {weights.name} yet") from None
        with self._lock:
            cached = self._items.get(run_id)
            if cached and cached[0] == stamp:
                self._items.move_to_end(run_id)
                return cached[1]
            loading = self._loading.setdefault(run_id, threading.Lock())
        with loading:  # one thread loads a run; the others wait for it instead of loading it again
            with self._lock:
                cached = self._items.get(run_id)
                if cached and cached[0] == stamp:
                    return cached[1]

            loaded = load_generator(folder, self.choice, device=self.device)
            with self._lock:
                self._items[run_id] = (stamp, loaded)
                self._items.move_to_end(run_id)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return loaded


# -- the server ------------------------------------------------------------------------------------------------
class GanforgeServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of page loads must queue, not be refused

    def __init__(self, runs_dir: Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                 quiet: bool = False, choice: CheckpointChoice | None = None,
                 device: torch.device | str = "cpu") -> None:
        root = Path(runs_dir).expanduser()
        if not root.is_dir():
            raise GanforgeError(f"{runs_dir} is not a folder; pass the folder that holds your run folders")
        self.runs_root = root.resolve()
        self.quiet = quiet
        self.cache = GeneratorCache(choice=choice, device=device)
        self.jobs = threading.BoundedSemaphore(MAX_CONCURRENT_JOBS)
        self._runs_lock = threading.Lock()
        self._runs: dict[str, RunEntry] = {}
        self.bound_host = host.strip().lower()
        self.loopback_only = is_loopback_name(self.bound_host)
        try:
            super().__init__((host, port), Handler)
        except OSError as exc:
            raise GanforgeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                "try another --port") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        assert isinstance(host, str)  # the bound socket's getsockname(), never bytes
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"

    def runs(self, refresh: bool = False) -> dict[str, RunEntry]:
        with self._runs_lock:
            if refresh or not self._runs:
                self._runs = find_runs(self.runs_root)
            return self._runs

    def lookup(self, run_id: str) -> RunEntry:
        try:
            check_run_id(run_id)
        except GanforgeError as exc:
            raise ApiError(400, str(exc)) from None
        entry = self.runs().get(run_id) or self.runs(refresh=True).get(run_id)
        if entry is None:
            raise ApiError(404, f"no run '{run_id}' under the served folder; reload the list")
        return entry


class Handler(BaseHTTPRequestHandler):
    server: GanforgeServer
    server_version = "ganforge"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    # -- plumbing --------------------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def send_bytes(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, document: Any) -> None:
        self.send_bytes(status, json.dumps(document).encode(), "application/json")

    def host_allowed(self) -> bool:
        """With a loopback bind, only loopback Host headers: a DNS-rebound page cannot call the API."""
        if not self.server.loopback_only:
            return True
        name = host_header_name(self.headers.get("Host") or "")
        return name is not None and (is_loopback_name(name) or name == self.server.bound_host)

    def has_body(self) -> bool:
        """A GET/HEAD that carries a body: refused, since its bytes would be read as the next request."""
        length = (self.headers.get("Content-Length") or "0").strip()
        return bool(self.headers.get("Transfer-Encoding")) or length not in ("", "0")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self.close_connection = True  # the unread request body must not be parsed as the next request
        self.send_json(405, {"error": "this server only answers GET requests"})

    do_PUT = do_DELETE = do_PATCH = do_POST

    def do_GET(self) -> None:
        try:
            if self.has_body():
                self.close_connection = True
                raise ApiError(400, "a GET request must not carry a body; send the parameters in the URL")
            if not self.host_allowed():
                raise ApiError(400, "unexpected Host header; open the page through 127.0.0.1 or localhost")
            url = urlsplit(self.path)
            route = ROUTES.get(url.path)
            if route is not None:
                route(self, url.query)
            elif url.path in STATIC_FILES:
                self.static(url.path)
            else:
                raise ApiError(404, "not found")
        except ApiError as exc:
            self.send_json(exc.status, {"error": str(exc)})
        except GanforgeError as exc:
            self.send_json(400, {"error": str(exc)})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away; nothing to answer
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.send_json(500, {"error": "internal error while handling the request (see the server log)"})

    # -- endpoints --------------------------------------------------------------------------------------------
    def static(self, path: str) -> None:
        name, content_type = STATIC_FILES[path]
        self.send_bytes(200, read_file(name), content_type)

    def api_runs(self, query: str) -> None:
        parse_query(query, set())
        root = self.server.runs_root
        runs = [run_summary(entry, root) for entry in self.server.runs(refresh=True).values()]
        self.send_json(200, {"root": root.name, "runs": runs, "limits": LIMITS})

    def _loaded(self, params: dict[str, str]) -> tuple[RunEntry, LoadedGenerator]:
        entry = self.server.lookup(params.get("run", ""))
        return entry, self.server.cache.get(entry.run_id, entry.path)

    def _job(self) -> threading.BoundedSemaphore:
        if not self.server.jobs.acquire(timeout=JOB_WAIT_S):
            raise ApiError(503, "the server is busy; try again in a moment")
        return self.server.jobs

    def api_generate(self, query: str) -> None:
        params = parse_query(query, {"run", "seed", "num", "class", "truncation", "download"})
        seed = int_param(params, "seed", 0, 0, MAX_SEED, "seed")
        num = int_param(params, "num", 16, 1, LIMITS["max_images"], "number of images")
        truncation = truncation_param(params)
        entry, loaded = self._loaded(params)
        classes = class_param(params, loaded.spec.num_classes, loaded.class_names)
        job = self._job()
        try:
            body = encode_png(sample_picture(loaded, seed, num, classes=classes, truncation=truncation))
        finally:
            job.release()
        extra = {"X-Ganforge-Weights": "ema" if loaded.is_ema else "raw"}
        if params.get("download") == "1":
            safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", entry.run_id)
            extra["Content-Disposition"] = f'attachment; filename="{safe}-seed{seed}-n{num}.png"'
        self.send_bytes(200, body, "image/png", extra)

    def api_interpolate(self, query: str) -> None:
        params = parse_query(query, {"run", "seed_a", "seed_b", "frames", "num", "class", "truncation"})
        seed_a = int_param(params, "seed_a", 0, 0, MAX_SEED, "first seed")
        seed_b = int_param(params, "seed_b", 1, 0, MAX_SEED, "second seed")
        frames = int_param(params, "frames", 24, LIMITS["min_frames"], LIMITS["max_frames"], "frames")
        num = int_param(params, "num", 1, 1, LIMITS["max_images"], "samples per frame")
        truncation = truncation_param(params)
        if seed_a == seed_b:
            raise ApiError(400, "pick two different seeds to interpolate between")
        _, loaded = self._loaded(params)
        budget = LIMITS["max_interpolation_images"]
        if loaded.spec.resolution and num * frames > budget:
            raise ApiError(400, f"{num} images x {frames} frames is too much; keep images x frames <= {budget}")
        classes = class_param(params, loaded.spec.num_classes, loaded.class_names)
        job = self._job()
        try:
            pictures = interpolation_pictures(loaded, seed_a, seed_b, frames, num, classes=classes,
                                              truncation=truncation)
            body = encode_gif(pictures)
        finally:
            job.release()
        self.send_bytes(200, body, "image/gif")

    def api_artifact(self, query: str) -> None:
        params = parse_query(query, {"run", "name"})
        name = params.get("name", "")
        served = artifacts()
        if name not in served:
            raise ApiError(400, f"unknown artifact; choose one of: {', '.join(served)}")
        entry = self.server.lookup(params.get("run", ""))
        path = run_file(entry, self.server.runs_root, served[name])
        if path is None:
            raise ApiError(404, f"this run has no {name}")
        self.send_bytes(200, path.read_bytes(), CONTENT_TYPES[path.suffix])


ROUTES = {
    "/api/runs": Handler.api_runs,
    "/api/generate": Handler.api_generate,
    "/api/interpolate": Handler.api_interpolate,
    "/api/artifact": Handler.api_artifact,
}


def start_in_thread(runs_dir: Path, host: str = DEFAULT_HOST, port: int = 0, quiet: bool = True) -> GanforgeServer:
    """A running server on a background thread (tests, benchmarks); call ``shutdown()`` then ``server_close()``."""
    server = GanforgeServer(runs_dir, host, port, quiet=quiet)
    threading.Thread(target=server.serve_forever, name="ganforge-serve", daemon=True).start()
    return server
