"""Progress where it is read: a bar on a terminal, plain rate-limited lines in a log."""

from __future__ import annotations

import io

from nas_common import progress as progress_module
from nas_common.progress import LogProgress, progress


def test_in_a_log_progress_is_a_few_plain_lines_not_frames(monkeypatch):
    out = io.StringIO()
    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "time", lambda: clock[0])
    bar = progress(total=1000, desc="search", unit="arch", file=out)
    assert isinstance(bar, LogProgress)  # a StringIO is no terminal
    for _ in range(1000):
        clock[0] += 0.01
        bar.update(1)
        bar.set_postfix(best="59.90%")
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 10  # one a tenth: 10 s of work, 1,000 updates
    assert lines[-1] == "search 1000/1000 (100%) in 10 s, 100.00 arch/s, best=59.90%"


def test_a_slow_job_says_where_it_is_every_ten_seconds(monkeypatch):
    out = io.StringIO()
    clock = [0.0]
    monkeypatch.setattr(progress_module.time, "time", lambda: clock[0])
    bar = LogProgress(total=None, desc="supernet", unit="step", file=out)
    for _ in range(6):
        clock[0] += 5.0
        bar.update(1)
    bar.close()
    assert out.getvalue().splitlines() == ["supernet 2 in 10 s, 5.00 s/step", "supernet 4 in 20 s, 5.00 s/step",
                                           "supernet 6 in 30 s, 5.00 s/step"]


def test_a_search_writes_no_carriage_returns_to_a_log(capsys, tmp_path):
    from nas.cli.main import main

    assert main(["search", "--space", "nb201", "--evaluator", "table", "--strategy", "random", "--budget", "20",
                 "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "search 20/20 (100%)" in err
