"""The one front-end of ``ganforge serve`` and of exported pages: its files in ``web/static`` and who uses which.

Both pages are ``index.html`` with the run panel of ``viewer.js``; they differ in their entry script
(``app.js``: the run list and pictures from the server's API; ``site.js``: pictures computed in the
browser with ONNX Runtime Web) and in nothing else of their markup, scripts or style.
"""

from __future__ import annotations

from importlib import resources

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SHARED_FILES = ("index.html", "style.css", "favicon.svg", "viewer.js", "grid.js", "sampler.js", "state.js")
SERVE_ENTRY = "app.js"
EXPORT_ENTRY = "site.js"
STATIC_PREFIX = "static/"  # where index.html finds the other files, relative to itself


def content_type(name: str) -> str:
    return CONTENT_TYPES["." + name.rsplit(".", 1)[-1]]


def read_file(name: str) -> bytes:
    return (resources.files("ganforge.web") / "static" / name).read_bytes()


def serve_routes() -> dict[str, tuple[str, str]]:
    """URL path -> (file, content type) of everything ``ganforge serve`` answers statically."""
    routes = {f"/{STATIC_PREFIX}{name}": (name, content_type(name)) for name in (*SHARED_FILES, SERVE_ENTRY)}
    index = ("index.html", content_type("index.html"))
    return {"/": index, "/index.html": index, **routes, "/favicon.ico": routes[f"/{STATIC_PREFIX}favicon.svg"]}


def export_files() -> dict[str, bytes]:
    """Path inside the exported folder -> bytes: index.html at the top (with the exported entry script)."""
    files = {f"{STATIC_PREFIX}{name}": read_file(name) for name in (*SHARED_FILES, EXPORT_ENTRY) if name != "index.html"}
    html = read_file("index.html").decode("utf-8")
    served = f'src="{STATIC_PREFIX}{SERVE_ENTRY}"'
    if html.count(served) != 1:
        raise RuntimeError(f"web/static/index.html must load its entry script as {served}")
    files["index.html"] = html.replace(served, f'src="{STATIC_PREFIX}{EXPORT_ENTRY}"').encode("utf-8")
    return files
