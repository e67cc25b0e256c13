"""`nas report RUN --html out.html`: the dashboard's run page as one self-contained file.

The run's data, the page's script and style and Plotly.js are written inline, so the file opens
offline from `file://`, attached to a paper or a pull request. Pictures are drawn for the
architectures a reader looks at first (the best, the top of the ranking, the front).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nas.archive.atomic import check_output_file, write_text_atomic
from nas_common.errors import UserError
from nas.ui.payload import RunsFolder, architecture_view
from nas.ui.server import STATIC, plotly_js, space_of

PICTURED = 50  # architectures drawn in a report: the best ones and the front


def _script(text: str) -> str:
    return text.replace("</", "<\\/")  # a "</script>" inside data or code must not end the element


def report_html(run_path: str | Path) -> str:
    run_path = Path(run_path)
    payload = RunsFolder(run_path).run(".")
    if "config" not in payload:
        raise UserError(f"{run_path} cannot be reported: {'; '.join(payload['problems']) or 'no config.json'}")
    payload["id"] = run_path.name
    archs: dict[str, Any] = {}
    records = payload.get("records") or []
    if records:
        metric = payload["objective"]["metric"]
        sign = 1 if payload["objective"]["direction"] == "max" else -1
        best_first = sorted((r for r in records if metric in r["metrics"]), key=lambda r: -sign * r["metrics"][metric])
        front = {f["arch_hash"] for f in ((payload.get("summary") or {}).get("front") or {}).get("front", [])}
        wanted = best_first[:PICTURED] + [r for r in records if r["hash"] in front]
        try:
            space = space_of(payload["config"])
            for r in wanted:
                archs[",".join(map(str, r["choices"]))] = architecture_view(space, r["choices"])
        except Exception as err:  # a user's space not importable here: the report shows choices only
            payload.setdefault("warnings", []).append(f"no architecture pictures: {err}")
    data = {"run": payload, "archs": archs}
    page = (STATIC / "index.html").read_text()
    page = page.replace('<link rel="stylesheet" href="static/style.css">',
                        f"<style>\n{(STATIC / 'style.css').read_text()}</style>")
    page = page.replace('<script src="static/plotly.min.js"></script>',
                        f"<script>{_script(plotly_js().read_text())}</script>")
    page = page.replace('<script src="static/app.js"></script>',
                        f"<script>window.NAS_REPORT = {_script(json.dumps(data, allow_nan=False, default=str))};</script>\n"
                        f"<script>{_script((STATIC / 'app.js').read_text())}</script>")
    return page.replace("<title>nas dashboard</title>", f"<title>nas run {payload['id']}</title>")


def write_report(run_path: str | Path, out: str | Path, overwrite: bool = False) -> Path:
    out = check_output_file(out, overwrite, "--html")
    write_text_atomic(out, report_html(run_path))
    return out
