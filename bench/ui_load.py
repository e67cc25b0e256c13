"""How fast the dashboard loads (issue 40's targets: <= 1 s each on 2 cores, served locally).

A folder of 50 runs (copies of the archived NB201 search, 300 records each) and one run of 10,000
records. Measured in the same run:
- baseline: reading the same folder as `nas runs list --json` does (`list_runs`), no dashboard;
- the runs API, cold (first read) and warm (the page's 2-second poll, files unchanged);
- in headless Chromium (when installed): navigation to the runs page until its 50 rows are drawn,
  and to the 10,000-record run page until its curve, front and trial table are drawn;
- live: a record appended to a run until the open page shows it.
The headline is the slower of the two page loads, in seconds.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _timing import median_time  # noqa: E402
from nas.archive.listing import list_runs  # noqa: E402
from nas.ui.server import serve  # noqa: E402
from search_spaces.nb201 import NB201Space  # noqa: E402

RUNS, BIG = 50, 10_000
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def build_folder(root: Path) -> None:
    source = REPO / "runs" / "archived" / "nb201-table-rea"
    for i in range(RUNS - 1):
        shutil.copytree(source, root / f"run-{i:02d}")
    big = root / "big"
    shutil.copytree(source, big)
    (big / "summary.json").unlink()
    space, rng, seen = NB201Space(), np.random.default_rng(0), {}
    while len(seen) < BIG:
        arch = space.sample(rng)
        seen.setdefault(arch.hash, arch)
    with open(big / "evaluations.jsonl", "w") as f:
        for step, arch in enumerate(seen.values()):
            f.write(json.dumps({"arch": arch.to_dict(), "arch_hash": arch.hash, "step": step, "wall_s": 0.01,
                                "metrics": {"val_acc": float(rng.uniform(40, 90)), "test_acc": float(rng.uniform(40, 94))},
                                "flops": int(rng.integers(1e7, 3e8)), "params": int(rng.integers(1e5, 1.1e6))}) + "\n")
    config = json.loads((big / "config.json").read_text())
    (big / "config.json").write_text(json.dumps({**config, "budget": BIG + 100}))


def timed(fn, repeats: int = 5) -> float:
    return median_time(fn, repeats, warmup=0)  # the first (cold) call is timed on its own, before


def browser_loads(url: str, root: Path) -> dict[str, float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))

    def until(css: str, count: int = 1, timeout: float = 60) -> None:
        deadline = time.perf_counter() + timeout
        while len(driver.find_elements(By.CSS_SELECTOR, css)) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(css)
            time.sleep(0.01)

    def load(path: str, *wanted: tuple[str, int]) -> float:
        driver.get("about:blank")
        start = time.perf_counter()
        driver.get(url + path)
        for css, count in wanted:
            until(css, count)
        return time.perf_counter() - start

    try:
        load("/#/", ("#runs-table tbody tr", RUNS))  # warm the browser's cache of plotly.min.js, as a reload would
        runs_page = statistics.median(load("/#/", ("#runs-table tbody tr", RUNS)) for _ in range(5))
        run_page = statistics.median(load("/#/run/big", ("#progress-plot .main-svg", 1), ("#pareto-plot .main-svg", 1),
                                          ("#trials-table tbody tr", 100)) for _ in range(3))
        log = root / "big" / "evaluations.jsonl"
        last = json.loads(log.read_text().splitlines()[-1])
        arch = NB201Space().sample(np.random.default_rng(99))
        while arch.hash in log.read_text():
            arch = NB201Space().sample(np.random.default_rng(int(time.time())))
        start = time.perf_counter()
        with open(log, "a") as f:
            f.write(json.dumps({**last, "arch": arch.to_dict(), "arch_hash": arch.hash, "step": BIG}) + "\n")
        deadline = start + 30
        while f"{BIG + 1} evaluated" not in driver.execute_script(
                "const e = document.querySelector('#run-progress'); return e ? e.textContent : '';"):
            if time.perf_counter() > deadline:
                raise TimeoutError("the appended record never showed")
            time.sleep(0.05)
        live = time.perf_counter() - start
    finally:
        driver.quit()
    return {"runs_page_s": runs_page, "run_page_s": run_page, "live_s": live}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="nas-ui-bench-") as tmp:
        root = Path(tmp) / "runs"
        root.mkdir()
        build_folder(root)
        baseline = timed(lambda: list_runs(root), 3)
        server, _ = serve(root, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.server_port}"
        get = lambda path: urllib.request.urlopen(url + path, timeout=120).read()  # noqa: E731
        start = time.perf_counter()
        get("/api/runs")
        cold_runs = time.perf_counter() - start
        warm_runs = timed(lambda: get("/api/runs"))
        start = time.perf_counter()
        size = len(get("/api/run?id=big"))
        cold_run = time.perf_counter() - start
        warm_run = timed(lambda: get("/api/run?id=big"))
        print(f"# {RUNS} runs (49 x 300 records + 1 x {BIG:,}), 2-core CPU, served on 127.0.0.1")
        print(f"baseline list_runs (what `nas runs list` reads)   {baseline:.3f} s")
        print(f"GET /api/runs            cold {cold_runs:.3f} s   warm (a poll) {warm_runs:.3f} s")
        print(f"GET /api/run?id=big      cold {cold_run:.3f} s   warm {warm_run:.3f} s   ({size / 2**20:.1f} MiB)")
        if not (CHROMIUM.is_file() and DRIVER.is_file()):
            server.shutdown()
            print("no Chromium here (apt-get install chromium chromium-driver): page loads not measured")
            print(f"ui_runs_api_warm_s={warm_runs:.3f}")
            return
        loads = browser_loads(url, root)
        server.shutdown()
        print(f"runs page (50 rows drawn), median of 5            {loads['runs_page_s']:.3f} s   (target <= 1 s)")
        print(f"run page, {BIG:,} records (curve, front, table), median of 3   {loads['run_page_s']:.3f} s   (target <= 1 s)")
        print(f"a record appended until the open page shows it    {loads['live_s']:.3f} s   (target <= 5 s)")
        print(f"ui_slowest_page_load_s={max(loads['runs_page_s'], loads['run_page_s']):.3f}")


if __name__ == "__main__":
    main()
