"""Search summaries quote how well their estimator is known to rank, from measured figures only."""

from __future__ import annotations

import json

from nas.evaluate import known


def test_an_estimator_is_described_with_its_measured_figure_or_as_unmeasured(tmp_path, monkeypatch):
    path = tmp_path / "known.json"
    path.write_text(json.dumps({"nb201": {"zc:naswot": {"kendall_tau": 0.61, "spearman_rho": 0.8,
                                                        "truth": "the 200-epoch test accuracy", "archs": 6466,
                                                        "source": "bench/x.py"}}}))
    monkeypatch.setattr(known, "FILE", path)
    text = known.describe_estimator("nb201", "zc:naswot", "zero-cost proxy naswot")
    assert "Kendall tau 0.61" in text and "6466 architectures" in text and "bench/x.py" in text
    assert "never measured" in known.describe_estimator("shufflenet", "zc:naswot", "zero-cost proxy naswot")
    assert "counting parameters" not in text
    figures = json.loads(path.read_text())
    figures["nb201"]["zc:params"] = {**figures["nb201"]["zc:naswot"], "kendall_tau": 0.58}
    path.write_text(json.dumps(figures))
    # beside any other estimator, the simplest one's figure on the same space
    assert text + "; counting parameters: tau 0.58" == known.describe_estimator("nb201", "zc:naswot",
                                                                                "zero-cost proxy naswot")
    # precision at the top 5%, where measured, beside the correlation (the top decides what a search ends on)
    figures["nb201"]["zc:params"]["p_top5"], figures["nb201"]["zc:naswot"]["p_top5"] = 0.24, 0.04
    path.write_text(json.dumps(figures))
    text = known.describe_estimator("nb201", "zc:naswot", "zero-cost proxy naswot")
    assert "(Spearman 0.80, precision at the top 5% 0.04)" in text
    assert text.endswith("; counting parameters: tau 0.58, precision at the top 5% 0.24")
    path.write_text("{broken")
    assert known.known_ranking("nb201", "zc:naswot") is None


def test_the_bundled_figures_are_well_formed():
    for space, estimators in known._read(known.FILE).items():
        for name, figure in estimators.items():
            assert -1 <= figure["kendall_tau"] <= 1 and -1 <= figure["spearman_rho"] <= 1, (space, name)
            assert figure["source"].startswith("bench/"), (space, name)
            # a table gives hundreds of truths; a stand-alone rank check a few dozen, with its interval
            assert figure["archs"] >= 100 or (figure["archs"] >= 16 and "kendall_tau_interval" in figure)
            assert 0 <= figure.get("p_top5", 0) <= 1, (space, name)


def test_a_users_rank_check_is_quoted_over_the_bundled_figure(tmp_path, monkeypatch):
    bundled = tmp_path / "bundled.json"
    bundled.write_text(json.dumps({"shufflenet": {"zc:params": {"kendall_tau": 0.5, "spearman_rho": 0.6,
                                                                 "truth": "t", "archs": 200, "source": "bench/y.py"}}}))
    monkeypatch.setattr(known, "FILE", bundled)
    monkeypatch.setenv("NAS_KNOWN_RANKINGS", str(tmp_path / "mine" / "known.json"))
    assert "never measured" in known.describe_estimator("shufflenet", "supernet", "the supernet")
    figure = {"kendall_tau": 0.42, "spearman_rho": 0.55, "archs": 16, "truth": "stand-alone val_acc after 6 epochs",
              "source": "nas rank-check of runs/x (flops spread), 2026-12-07", "kendall_tau_interval": [0.1, 0.7],
              "params_kendall_tau": 0.3}
    path = known.record_measured("shufflenet", "supernet", figure)
    assert path == tmp_path / "mine" / "known.json"
    text = known.describe_estimator("shufflenet", "supernet", "the supernet")
    assert "Kendall tau 0.42 (95% CI 0.10 to 0.70)" in text and "over 16 architectures" in text
    assert "2026-12-07" in text and text.endswith("counting parameters: tau 0.30 on the same architectures")
    assert known.known_ranking("shufflenet", "zc:params")["archs"] == 200  # the bundled ones stay
    path.write_text("[not a mapping]")
    assert "never measured" in known.describe_estimator("shufflenet", "supernet", "the supernet")
