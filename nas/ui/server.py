"""`nas ui`: the dashboard over a runs folder, served by Bottle (the WSGI micro-framework
optuna-dashboard also uses) on a threaded standard-library server.

Safe by default: it binds 127.0.0.1 unless `--host` says otherwise; it only reads (every run file
through `nas.ui.payload`, which finds a run by its listed id, never by a path in the request); it
serves static files from a fixed list, so no request reaches another file; responses are bounded.
"""

from __future__ import annotations

import json
import socketserver
import threading
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import bottle

from nas_common.errors import UserError
from nas.ui.payload import RunNotFound, RunsFolder, architecture_view

STATIC = Path(__file__).with_name("static")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_CHOICES = 4096  # decisions in one architecture request, far above any space here


def plotly_js() -> Path:
    """Plotly.js as shipped inside the `plotly` Python package: no CDN, works offline."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise UserError(f"the plotly package has no {path.name}; reinstall it (pip install --force-reinstall plotly)")
    return path


def static_files() -> dict[str, tuple[Path, str]]:
    """The only files the server sends besides JSON: name -> (file, content type)."""
    return {"app.js": (STATIC / "app.js", "application/javascript"),
            "style.css": (STATIC / "style.css", "text/css"),
            "plotly.min.js": (plotly_js(), "application/javascript")}


def _json(value: Any, status: int = 200) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(json.dumps(value, allow_nan=False, default=str), status=status,
                               headers={"Content-Type": "application/json", "Cache-Control": "no-store"})


def space_of(config: dict) -> Any:
    from nas_common.registry import SPACES

    factory = SPACES.get(config["space"])
    return factory(**factory.upgrade_config(dict(config.get("space_options") or {})))


def make_app(root: str | Path) -> bottle.Bottle:
    folder = RunsFolder(root)
    files = static_files()
    app = bottle.Bottle()
    spaces: dict[str, Any] = {}  # run id -> its space, built once (architecture pictures)

    @app.get("/")
    def index() -> Any:
        return bottle.HTTPResponse((STATIC / "index.html").read_text(), headers={"Content-Type": "text/html"})

    @app.get("/static/<name>")
    def static(name: str) -> Any:
        if name not in files:  # a fixed list: no path from the request ever reaches the disk
            return _json({"error": "not found"}, 404)
        path, kind = files[name]
        return bottle.HTTPResponse(path.read_bytes(), headers={"Content-Type": kind, "Cache-Control": "max-age=3600"})

    @app.get("/api/runs")
    def runs() -> Any:
        return _json(folder.listing())

    @app.get("/api/run")
    def run() -> Any:
        try:
            return _json(folder.run(bottle.request.query.getunicode("id", "")))
        except RunNotFound:
            return _json({"error": "no such run under the root"}, 404)

    @app.get("/api/arch")
    def arch() -> Any:
        run_id = bottle.request.query.getunicode("id", "")
        text = bottle.request.query.getunicode("choices", "")
        try:
            choices = [int(c) for c in text.split(",")][:MAX_CHOICES + 1]
            if len(choices) > MAX_CHOICES:
                raise ValueError
            config = folder.run(run_id).get("config") or {}
            if run_id not in spaces:
                spaces[run_id] = space_of(config)
            return _json(architecture_view(spaces[run_id], choices))
        except RunNotFound:
            return _json({"error": "no such run under the root"}, 404)
        except Exception as err:  # a space that cannot be built here (a user's module not importable)
            return _json({"error": f"no picture: {str(err).splitlines()[0] if str(err) else type(err).__name__}"}, 422)

    @app.error(404)
    def missing(_: Any) -> str:
        bottle.response.content_type = "application/json"
        return json.dumps({"error": "not found"})

    @app.error(405)
    def read_only(_: Any) -> str:
        bottle.response.content_type = "application/json"
        return json.dumps({"error": "the dashboard is read-only"})

    return app


class _ThreadedServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # one line per request would bury the address line
        pass


def check_host(host: str, given: bool) -> str | None:
    """A warning when the dashboard is visible beyond this machine; refuses a non-local address
    that was not asked for explicitly (--host)."""
    if host in LOCAL_HOSTS:
        return None
    if not given:
        raise UserError(f"refusing to serve on {host} without --host; the dashboard binds 127.0.0.1 by default")
    return (f"serving on {host}: anyone who can reach this address can read every run under the root "
            "(read-only); use 127.0.0.1 and an SSH tunnel to keep it private")


def serve(root: str | Path, host: str = "127.0.0.1", port: int = 8080, *,
          remote: bool = False) -> tuple[Any, threading.Thread]:
    """Start serving in a background thread; returns (server, thread). A non-local `host` needs
    `remote` (the CLI's --host). `server.server_port` is the port (0 picks a free one),
    `server.shutdown()` stops it."""
    check_host(host, remote)
    app = make_app(root)
    try:
        server = make_server(host, port, app, server_class=_ThreadedServer, handler_class=_QuietHandler)
    except OSError as err:
        raise UserError(f"cannot serve on {host}:{port} ({err.strerror}); pick another --port") from None
    thread = threading.Thread(target=server.serve_forever, name="nas-ui", daemon=True)
    thread.start()
    return server, thread
