"""The dashboard (`nas ui`) and the HTML report (`nas report`): the JSON it serves, what it refuses,
and the page itself in a real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium). Without Chromium on the machine the browser tests say so and skip; `.ci/run` installs it.

One runs folder serves every test: copies of the archived runs (an NB201 table search, a ShuffleNet
supernet search), an NSGA-II search with a front, a model-space run, a damaged run and a run with
a damaged line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from nas.ui.server import serve
from nas_common.errors import UserError
from tests.conftest import run_main

REPO = Path(__file__).resolve().parents[1]
ARCHIVED = REPO / "runs" / "archived"
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ui") / "runs"
    for name in ("nb201-table-rea", "shufflenet-cifar10-evolution"):
        shutil.copytree(ARCHIVED / name, root / "archived" / name)
    code = run_main(["search", "--evaluator", "table", "--strategy", "nsga2", "-o", "population=6", "-o",
                     "generations=4", "--quiet", "--out", root / "pareto"])[0]
    assert code == 0
    _space_run(root / "mine", "examples.small_cnn:SmallCNN")
    _space_run(root / "cells", "darts")
    _space_run(root / "mobile", "mbconv")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{ not json")
    damaged = root / "damaged-line"
    shutil.copytree(ARCHIVED / "nb201-table-rea", damaged)
    lines = (damaged / "evaluations.jsonl").read_text().splitlines()
    lines[5] = '{"arch": oops'
    (damaged / "evaluations.jsonl").write_text("\n".join(lines) + "\n")
    _judged_run(root / "judged")
    _rank_check_run(root / "checked")
    return root


def _judged_run(path: Path) -> None:
    """The archived NB201 run with what a supernet search's summary adds: a verdict and the
    separability check (as nas.judging writes them)."""
    shutil.copytree(ARCHIVED / "nb201-table-rea", path)
    summary = json.loads((path / "summary.json").read_text())
    summary["verdict"] = {"better_than_random": True, "basis": "confirmation",
                          "text": "best vs the median random architecture on 5,000 confirmation images: +1.20% "
                                  "(95% CI +0.30 to +2.10%): CONFIRMED better than random"}
    summary["best_inherited_bn_val_acc"] = 12.5
    summary["random_baseline"] = {"count": 10, "separability": {"paired": True, "images": 1000, "rms_difference": 2.5,
                                                                "pairs": 45, "rms_noise": 0.8, "reliability": 0.9}}
    (path / "summary.json").write_text(json.dumps(summary))


def _rank_check_run(path: Path) -> None:
    """A `nas rank-check` output: a retraining run with rank_check.json."""
    rng = np.random.default_rng(1)
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"kind": "retrain", "space": "nb201", "space_config": {}}))
    archs = [{"arch": {"space": "nb201", "choices": [int(c) for c in rng.integers(0, 5, 6)]}, "recalibrated": 50 + i,
              "inherited": 30 + i % 3, "standalone": 60 + i + float(rng.normal()), "flops": 1, "params": 100 + i}
             for i in range(8)]
    correlations = {"recalibrated_vs_standalone": {"kendall_tau": 0.71, "spearman_rho": 0.86, "kendall_tau_low": 0.4,
                                                   "kendall_tau_high": 0.93},
                    "params_vs_standalone": {"kendall_tau": 0.5, "spearman_rho": 0.6, "kendall_tau_low": 0.1,
                                             "kendall_tau_high": 0.8}}
    (path / "rank_check.json").write_text(json.dumps({"metric": "val_acc", "archs": archs, "epochs": 3,
                                                      "correlations": correlations, "selection": "spread"}))


def _space_run(path: Path, name: str) -> None:
    """A run of space `name` with default options (4 records), written as the archive writes one."""
    from nas_common.registry import SPACES

    space = SPACES.get(name)()
    rng = np.random.default_rng(0)
    path.mkdir(parents=True)
    config = {"kind": "search", "space": name, "space_options": {}, "strategy": "random",
              "evaluator": {"kind": "zc"}, "budget": 4, "seed": 0,
              "objective": {"metric": "val_acc", "direction": "max", "scale": 100.0, "unit": "%"}}
    (path / "config.json").write_text(json.dumps(config))
    archs = {}
    while len(archs) < 4:
        arch = space.sample(rng)
        archs[arch.hash] = arch
    with open(path / "evaluations.jsonl", "w") as f:
        for step, arch in enumerate(archs.values()):
            f.write(json.dumps({"arch": arch.to_dict(), "arch_hash": arch.hash, "step": step, "wall_s": 0.1,
                                "metrics": {"val_acc": 50.0 + step}, "flops": 1000 + step, "params": 100 + step}) + "\n")


@pytest.fixture(scope="module")
def server(runs):
    srv, _ = serve(runs, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# ---- the JSON it serves --------------------------------------------------------------------------
def test_the_runs_list_has_every_run_with_status_progress_and_problems(server):
    status, body = _get(server + "/api/runs")
    rows = {r["id"]: r for r in json.loads(body)["runs"]}
    assert status == 200 and set(rows) == {"archived/nb201-table-rea", "archived/shufflenet-cifar10-evolution",
                                           "pareto", "mine", "cells", "mobile", "broken", "damaged-line", "judged",
                                           "checked"}
    assert rows["judged"]["verdict"]["label"] == "confirmed better than random"
    nb201 = rows["archived/nb201-table-rea"]
    assert (nb201["status"], nb201["evaluations"], nb201["budget"], nb201["best"]) == ("done", 300, 300, 84.892)
    assert rows["broken"]["status"] == "damaged" and "config.json" in rows["broken"]["problem"]
    assert rows["damaged-line"]["status"] != "damaged" and rows["damaged-line"]["evaluations"] == 299
    assert any("line 6" in w for w in rows["damaged-line"]["warnings"])  # the skipped line, said


def test_a_run_page_payload_has_records_front_and_commands(server):
    run = json.loads(_get(server + "/api/run?id=pareto")[1])
    assert len(run["records"]) == 24 and run["summary"]["front"]["front"]
    assert run["commands"]["resume"].endswith("pareto") and "--strategy nsga2" in run["commands"]["repeat"]
    view = json.loads(_get(server + "/api/arch?id=archived/nb201-table-rea&choices=3,3,3,1,2,3")[1])
    assert [label for label, _ in view["decisions"]][:2] == ["edge_1<-0", "edge_2<-0"] and "~0|" in view["readable"]
    assert _get(server + "/api/arch?id=archived/nb201-table-rea&choices=9,9,9")[0] == 422  # not an architecture


# ---- what it refuses -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    "/static/../payload.py", "/static/%2e%2e/payload.py", "/static/%2E%2E%2Fserver.py", "/static//etc/passwd",
    "/api/run?id=../runs", "/api/run?id=%2e%2e", "/api/run?id=/etc", "/api/run?id=archived/nb201-table-rea/config.json",
    "/api/run?id=archived/nb201-table-rea/../../..", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
])
def test_paths_outside_the_runs_are_refused(server, path):
    status, body = _get(server + path)
    assert status == 404 and b"root:" not in body


def test_a_symlink_out_of_the_root_is_not_a_run(runs, server, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.copytree(ARCHIVED / "nb201-table-rea", outside)
    (runs / "escape").symlink_to(outside, target_is_directory=True)
    try:
        assert "escape" not in {r["id"] for r in json.loads(_get(server + "/api/runs")[1])["runs"]}
        assert _get(server + "/api/run?id=escape")[0] == 404
    finally:
        (runs / "escape").unlink()


def test_it_never_writes_and_refuses_writing_methods(runs, server):
    before = _snapshot(runs)
    for method in ("POST", "PUT", "DELETE"):
        assert _get(server + "/api/runs", method)[0] == 405
    for url in ("/api/runs", "/api/run?id=pareto", "/api/run?id=broken", "/"):
        _get(server + url)
    assert _snapshot(runs) == before


def test_a_huge_log_is_reported_not_read(runs, server):
    huge = runs / "huge"
    shutil.copytree(ARCHIVED / "nb201-table-rea", huge)
    with open(huge / "evaluations.jsonl", "r+b") as f:
        f.truncate(2**30)  # 1 GiB, sparse: nothing on disk
    try:
        started = time.perf_counter()
        rows = {r["id"]: r for r in json.loads(_get(server + "/api/runs")[1])["runs"]}
        run = json.loads(_get(server + "/api/run?id=huge")[1])
        assert time.perf_counter() - started < 10
        assert rows["huge"]["status"] == "damaged" and "MiB" in rows["huge"]["problem"]
        assert run["records"] == [] and any("MiB" in p for p in run["problems"])
        assert rows["archived/nb201-table-rea"]["status"] == "done"  # the others keep working
    finally:
        shutil.rmtree(huge)


def test_a_run_of_many_records_sends_the_best_and_says_how_many_it_left_out(runs, monkeypatch):
    from nas.ui import payload

    monkeypatch.setattr(payload, "MAX_RECORDS", 50)
    run = payload.RunsFolder(runs).run("archived/nb201-table-rea")
    kept = sorted(r["metrics"]["val_acc"] for r in run["records"])
    every = sorted(json.loads(line)["metrics"]["val_acc"] for line in
                   (runs / "archived" / "nb201-table-rea" / "evaluations.jsonl").read_text().splitlines())
    assert len(kept) == 50 and run["truncated"] == 250 and kept == every[-50:]  # the 50 best, 250 said left out
    assert [r["step"] for r in run["records"]] == sorted(r["step"] for r in run["records"])


def test_a_non_local_address_needs_host(runs, capsys):
    with pytest.raises(UserError, match="without --host"):
        serve(runs, "0.0.0.0", 0)
    code, _ = run_main(["ui", str(runs / "nowhere")])
    assert code == 2 and "is not a directory" in capsys.readouterr().err


def test_nas_ui_serves_from_the_command_line_until_stopped(runs):
    import signal
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "nas", "ui", str(runs), "--port", "0"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        line = process.stdout.readline()
        assert "serving" in line and "127.0.0.1" in line and "read-only" in line, line
        url = line.split(" on ", 1)[1].split()[0]
        assert json.loads(_get(url + "api/runs")[1])["runs"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()


def test_the_report_is_one_file_that_needs_no_network(runs, tmp_path, capsys):
    out = tmp_path / "report.html"
    code, text = run_main(["report", str(runs / "archived" / "nb201-table-rea"), "--html", str(out)])
    assert code == 0 and "opens offline" in text
    page = out.read_text()
    outside_scripts = re.sub(r"<script>.*?</script>", "", page, flags=re.S)  # inline code ends at its own tag
    assert "window.NAS_REPORT" in page and page.count("<script>") == 3 and "Plotly" in page
    assert not re.search(r"(src|href)=\"(?!#)", outside_scripts)  # nothing loaded from elsewhere
    assert run_main(["report", str(runs / "archived" / "nb201-table-rea"), "--html", str(out)])[0] == 2
    assert "already exists" in capsys.readouterr().err


# ---- the page in a real browser ------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.is_file() and DRIVER.is_file()):
        pytest.skip("no Chromium here (/usr/bin/chromium, /usr/bin/chromedriver): "
                    "apt-get install chromium chromium-driver to run the browser tests")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver, css: str, timeout: float = 20):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _text(driver, css: str) -> str:
    """The element's text, found again if a redraw (a live update) replaced it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(20):
        try:
            return _wait(driver, css).text
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"{css} kept being redrawn")


def _all(driver, css: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def test_the_runs_page_lists_filters_and_sorts_runs(browser, server):
    browser.get(server + "/#/")
    _wait(browser, "#runs-table tbody tr")
    ids = [r.get_attribute("data-id") for r in _all(browser, "#runs-table tbody tr")]
    assert {"archived/nb201-table-rea", "pareto", "broken"} <= set(ids)
    broken = _all(browser, '#runs-table tr[data-id="broken"] td')
    assert broken[6].text.startswith("damaged")
    box = _all(browser, "#runs-filter")[0]
    box.send_keys("nb201 done")
    time.sleep(0.3)
    shown = {r.get_attribute("data-id") for r in _all(browser, "#runs-table tbody tr")}
    assert "archived/nb201-table-rea" in shown and "archived/shufflenet-cifar10-evolution" not in shown


def test_an_nb201_run_page_draws_the_curve_the_verdict_panel_and_the_cell(browser, server):
    browser.get(server + "/#/run/" + "archived%2Fnb201-table-rea")
    _wait(browser, "#progress-plot .main-svg")
    assert "84.89" in _wait(browser, "#best-line").text and _all(browser, "#verdict-text")
    _wait(browser, "#cell-graph")
    ops = sorted(e.get_attribute("data-op") for e in _all(browser, "#cell-graph .edge"))
    assert ops == sorted(["nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"])
    assert len(_all(browser, "#trials-table tbody tr")) == 100 and "of 3" in _wait(browser, "#trials-page").text
    _all(browser, '#trials-table tbody tr[data-step="0"]')[0].click()  # step 0: [2, 2, 3, 4, 0, 0]
    deadline = time.monotonic() + 10
    while "avg_pool_3x3" not in _text(browser, "#arch-readable"):
        assert time.monotonic() < deadline, "clicking a trial did not draw it"
        time.sleep(0.2)
    assert _text(browser, "#arch-metrics").startswith("rank 295 of 300 · step 0 · ")  # its figures and its rank


def test_a_shufflenet_run_page_draws_a_strip_of_blocks(browser, server):
    browser.get(server + "/#/run/archived%2Fshufflenet-cifar10-evolution")
    _wait(browser, "#block-strip")
    blocks, decisions = _all(browser, "#block-strip .block"), _all(browser, "#arch-decisions tr")
    assert len(blocks) == len(decisions) == 8  # stage_repeats 2, 2, 2, 2: one choice block each
    assert all(row.text.split()[-1] in ("shuffle3x3", "shuffle5x5", "shuffle7x7", "xception") for row in decisions)


def test_a_model_space_run_page_draws_its_choices(browser, server):
    browser.get(server + "/#/run/mine")
    _wait(browser, "#arch-decisions tr")  # stage0.kernel, stage0.width, stage0.depth, stage1.*: two stages
    assert len(_all(browser, "#arch-decisions tr")) == 6 and len(_all(browser, "#block-strip .block")) == 2


def test_darts_cells_are_graphs_and_mbconv_blocks_hold_their_choices(browser, server):
    browser.get(server + "/#/run/cells")
    _wait(browser, "#cell-graph-normal")
    for cell in ("normal", "reduce"):  # 4 nodes, each with two inputs and their operations
        assert len(_all(browser, f"#cell-graph-{cell} .edge")) == 8 and len(_all(browser, f"#cell-graph-{cell} .node")) == 6
    browser.get(server + "/#/run/mobile")
    _wait(browser, "#block-strip")
    decisions, blocks = _all(browser, "#arch-decisions tr"), _all(browser, "#block-strip .block")
    mbconv = [b.text.split() for b in blocks if b.text.startswith("block_")]
    assert len(decisions) == 51 and len(mbconv) == 15 and len(blocks) == 15 + 6  # 15 blocks, 6 stage depths
    assert all(len(words) == 4 and words[1][0] == "k" and words[2][0] == "e" for words in mbconv)  # kernel, expansion, SE


def test_the_verdict_panel_says_the_verdict_and_the_separability(browser, server):
    browser.get(server + "/#/run/judged")
    assert "CONFIRMED better than random" in _text(browser, "#verdict-text")
    assert _text(browser, "#verdict-label") == "confirmed better than random"
    assert "reliability 0.90" in _text(browser, "#separability") and "1,000 images" in _text(browser, "#separability")
    assert "inherited BN statistics: 12.50; recalibrated on its own path: 84.89" in _text(browser, "#recalibration")


def test_a_rank_check_is_a_scatter_with_tau_and_its_interval(browser, server):
    browser.get(server + "/#/run/checked")
    _wait(browser, "#rank-check-plot .main-svg")
    text = _text(browser, "#rank-check-text")
    assert "Kendall tau 0.71 (95% CI 0.40 to 0.93)" in text and "counting parameters: Kendall tau 0.50" in text
    assert len(_all(browser, "#rank-check-plot .scatterlayer .point")) == 16  # 8 architectures, two scores each


def test_a_pareto_search_shows_its_front(browser, server):
    browser.get(server + "/#/run/pareto")
    plot = _wait(browser, "#pareto-plot .main-svg")
    assert plot is not None and int(_wait(browser, "#pareto-plot").get_attribute("data-front")) >= 2


def test_a_record_appended_by_a_running_search_appears_within_5_seconds(browser, server, runs):
    live = runs / "live"
    shutil.copytree(ARCHIVED / "nb201-table-rea", live)
    lines = (live / "evaluations.jsonl").read_text().splitlines()
    (live / "evaluations.jsonl").write_text("\n".join(lines[:50]) + "\n")
    (live / "summary.json").unlink()
    try:
        browser.get(server + "/#/run/live")
        assert "50 evaluated" in _text(browser, "#run-progress")
        with open(live / "evaluations.jsonl", "a") as f:
            f.write(lines[50] + "\n")
        deadline = time.monotonic() + 5
        while "51 evaluated" not in _text(browser, "#run-progress"):
            assert time.monotonic() < deadline, "the new record did not appear within 5 s"
            time.sleep(0.2)
    finally:
        shutil.rmtree(live)


def test_the_html_report_opens_from_a_file(browser, runs, tmp_path):
    out = tmp_path / "pareto.html"
    assert run_main(["report", str(runs / "pareto"), "--html", str(out)])[0] == 0
    browser.get(out.as_uri())
    _wait(browser, "#progress-plot .main-svg")
    _wait(browser, "#pareto-plot .main-svg")
    assert "pareto" in _wait(browser, "#run-title").text and _all(browser, "#cell-graph .edge")


def test_compare_draws_several_runs(browser, server):
    browser.get(server + "/#/compare/archived%2Fnb201-table-rea|pareto")
    _wait(browser, "#compare-plot .main-svg")
    _wait(browser, "#compare-fronts .main-svg")
    assert len(_all(browser, "#compare-plot .scatterlayer .trace")) == 2
    assert len(_all(browser, "#compare-fronts .scatterlayer .trace")) == 2
