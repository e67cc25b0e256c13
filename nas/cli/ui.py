"""`nas ui [ROOT]`: the web dashboard over a runs folder; `nas report RUN --html FILE`: one run as a
self-contained page. Both only read the runs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="a web dashboard over a runs folder (read-only, on 127.0.0.1)",
                       description="Serve a local web page of the runs under ROOT: the runs, each run's best-so-far "
                                   "curve, verdict, Pareto front, trials and architectures; live while searches run. "
                                   "Nothing is written to the runs.",
                       epilog="examples: nas ui;  nas ui runs/archived --port 8081;  "
                              "nas ui --host 0.0.0.0 (visible to your network: say so explicitly)")
    p.add_argument("root", nargs="?", type=Path, default=Path("runs"), help="default: %(default)s/")
    p.add_argument("--host", default=None,
                   help="address to bind (default 127.0.0.1: this machine only); any other is visible to others")
    p.add_argument("--port", type=_port, default=8080, help="default: %(default)s (0: any free port)")
    p.set_defaults(handler=run_ui)


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="a run's dashboard page as one self-contained HTML file",
                       description="Write the dashboard's page of one run as a single HTML file (data, script and "
                                   "Plotly.js inline): it opens offline, from a file, a paper's supplement or a PR.",
                       epilog="example: nas report runs/archived/nb201-table-rea --html nb201.html")
    p.add_argument("run", type=Path, help="a run directory")
    p.add_argument("--html", type=Path, required=True, help="the file to write")
    p.add_argument("--overwrite", action="store_true", help="replace --html if it exists")
    p.set_defaults(handler=run_report)


def _port(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535)")
    return value


def run_ui(args: argparse.Namespace) -> int:
    from nas.ui.server import check_host, serve

    host = args.host or "127.0.0.1"
    warning = check_host(host, args.host is not None)
    server, _ = serve(args.root, host, args.port, remote=args.host is not None)
    if warning:
        print(f"warning: {warning}")
    shown = f"[{host}]" if ":" in host else host
    print(f"nas ui: serving {Path(args.root).resolve()} on http://{shown}:{server.server_port}/ (read-only); "
          "Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("nas ui: stopped")
    finally:
        server.shutdown()
    return 0


def run_report(args: argparse.Namespace) -> int:
    from nas.ui.report import write_report

    out = write_report(args.run, args.html, args.overwrite)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, opens offline)")
    return 0


__all__ = ["add_parser", "add_report_parser"]
