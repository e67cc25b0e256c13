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
    for space, estimators in known.known_rankings().items():
        for name, figure in estimators.items():
            assert -1 <= figure["kendall_tau"] <= 1 and -1 <= figure["spearman_rho"] <= 1, (space, name)
            assert figure["archs"] >= 100 and figure["source"].startswith("bench/")
            assert 0 <= figure.get("p_top5", 0) <= 1, (space, name)
