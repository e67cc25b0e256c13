"""Predictors: learn known rankings, save/load exactly, seeded; `nas predictor` on real run archives."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
from scipy.stats import kendalltau

from nas.archive import ArchiveWarning
from nas.cli.main import main
from nas_common.errors import UserError
from nas_common.registry import PREDICTORS
from predictors import load_predictor, make_predictor
from search_spaces.nb201 import NB201Space

try:
    from tests.toy_space import ToySpace
except ImportError:
    from toy_space import ToySpace

FAST = {"epochs": 120, "hidden": 32}


def additive_task(space, n_train: int, n_test: int, seed: int = 0, shared: bool = False):
    """Distinct random archs and a score that adds a hidden weight per (decision, option); with
    `shared`, per option only (a function of the cell's op counts, which a graph model sees)."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=d.num_options) for d in space.decisions]
    if shared:
        weights = [weights[0]] * len(weights)
    archs = list({a.hash: a for a in (space.sample(rng) for _ in range(5 * (n_train + n_test)))}.values())
    archs = archs[: n_train + n_test]
    scores = np.array([sum(w[c] for w, c in zip(weights, a.choices)) for a in archs]) * 5 + 70
    return archs[:n_train], scores[:n_train], archs[n_train:], scores[n_train:]


@pytest.mark.parametrize("model", ["mlp", "lstm", "gcn"])
@pytest.mark.parametrize("loss", ["mse", "rank"])
def test_predictor_learns_a_known_ranking(model, loss, one_thread):
    space = NB201Space() if model == "gcn" else ToySpace(num_decisions=8, num_options=4)
    train, y_train, test, y_test = additive_task(space, 150, 300, shared=model == "gcn")
    predictor = make_predictor(model, space, loss=loss, **FAST).fit(train, y_train)
    tau = kendalltau(predictor.predict(test), y_test)[0]
    assert tau > 0.8, tau


@pytest.mark.parametrize("model", PREDICTORS.names())
def test_save_load_round_trip_and_determinism(model, tmp_path, one_thread):
    space = NB201Space()
    train, y_train, test, _ = additive_task(space, 40, 30)
    options = {"epochs": 20, "hidden": 16, "seed": 3, "loss": "rank"}
    first = make_predictor(model, space, **options).fit(train, y_train)
    again = make_predictor(model, space, **options).fit(train, y_train)
    np.testing.assert_array_equal(first.predict(test), again.predict(test))  # seeded, bitwise
    first.save(tmp_path / "p")
    loaded = load_predictor(tmp_path / "p")  # the space is rebuilt from the saved name and options
    assert loaded.name == model and loaded.config == first.config
    np.testing.assert_array_equal(loaded.predict(test), first.predict(test))
    other = make_predictor(model, space, **{**options, "seed": 4}).fit(train, y_train)
    assert not np.array_equal(other.predict(test), first.predict(test))


def test_gcn_needs_a_graph_space():
    with pytest.raises(UserError, match="space.graph.*toy has none: use --model mlp or lstm"):
        make_predictor("gcn", ToySpace())


def test_nb201_graph_follows_the_cell():
    space = NB201Space()
    arch = space.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
    g = space.graph(arch)
    assert g.nodes["e1<-0"]["op"] == "nor_conv_3x3" and g.number_of_nodes() == 8
    assert set(g.predecessors("output")) == {"e3<-0", "e3<-2"}  # e3<-1 is none: sends nothing
    assert set(g.predecessors("e3<-2")) == {"e2<-1"}  # e2<-0 is none
    assert set(g.predecessors("e2<-1")) == {"e1<-0"}


def test_bad_options_and_untrained_use_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="valid losses: mse, rank"):
        make_predictor("mlp", ToySpace(), loss="l1")
    with pytest.raises(UserError, match="not trained"):
        make_predictor("mlp", ToySpace()).predict([ToySpace().sample(np.random.default_rng(0))])
    with pytest.raises(UserError, match="predictor.json not found"):
        load_predictor(tmp_path)


# ---- `nas predictor` on run archives --------------------------------------------------------------
@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "nb201-random"
    argv = ["search", "--evaluator", "table", "--strategy", "random", "--budget", "40", "--seed", "1",
            "--out", str(out), "--quiet"]
    assert main(argv) == 0
    return out


def _metric(text: str, name: str) -> float:
    return float(text.split(f"{name}=")[1].split()[0])


def test_train_and_eval_on_a_table_search_run(table_run, tmp_path, capsys, one_thread):
    capsys.readouterr()
    pred = tmp_path / "pred"
    argv = ["predictor", "train", "--space", "nb201", "--runs", str(table_run), "--model", "gcn",
            "--loss", "rank", "--epochs", "60", "--seed", "0", "--out", str(pred)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "held-out: 8 architectures" in out and -1 <= _metric(out, "kendall_tau") <= 1
    assert -1 <= _metric(out, "spearman_rho") <= 1
    assert json.loads((pred / "predictor.json").read_text())["model"] == "gcn"
    assert main(["predictor", "eval", "--predictor", str(pred), "--runs", str(table_run)]) == 0
    out = capsys.readouterr().out
    assert "40 architectures" in out and _metric(out, "kendall_tau") > 0.3  # mostly its training data


def test_corrupt_record_is_skipped_with_a_warning(table_run, tmp_path, capsys, one_thread):
    run = tmp_path / "damaged"
    shutil.copytree(table_run, run)
    lines = (run / "evaluations.jsonl").read_text().splitlines()
    lines.insert(3, '{"arch": {"space": "nb201", "choices": [1, 2')  # torn line mid-file
    lines.insert(6, '{"arch_hash": "x", "metrics": {}}')  # parses, but is no record
    (run / "evaluations.jsonl").write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["predictor", "train", "--space", "nb201", "--runs", str(run), "--model", "mlp",
                     "--epochs", "5", "--out", str(tmp_path / "p")])
    assert code == 0
    messages = [str(w.message) for w in caught if issubclass(w.category, ArchiveWarning)]
    assert len(messages) == 2 and "line 4 of" in messages[0] and "line 7 of" in messages[1]
    assert "trained mlp (mse loss) on 32 architectures" in capsys.readouterr().out  # 40 - 8 held out


def test_run_of_another_space_is_refused(table_run, tmp_path, capsys):
    assert main(["predictor", "train", "--space", "shufflenet", "--runs", str(table_run),
                 "--out", str(tmp_path / "p")]) == 2
    assert "searched space 'nb201', not 'shufflenet'" in capsys.readouterr().err

    mixed = tmp_path / "mixed"  # the config says nb201, a record says otherwise
    shutil.copytree(table_run, mixed)
    lines = (mixed / "evaluations.jsonl").read_text().splitlines()
    record = json.loads(lines[2])
    record["arch"]["space"] = "shufflenet"
    lines[2] = json.dumps(record)
    (mixed / "evaluations.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["predictor", "train", "--space", "nb201", "--runs", str(table_run), str(mixed),
                 "--out", str(tmp_path / "p")]) == 2
    assert "record 3 of" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_eval_refuses_runs_of_another_space(table_run, tmp_path, capsys):
    space = ToySpace()
    train, y, _, _ = additive_task(space, 10, 0)
    predictor = make_predictor("mlp", space, epochs=2).fit(train, y)
    predictor.save(tmp_path / "toy")
    assert main(["predictor", "eval", "--predictor", str(tmp_path / "toy"), "--runs", str(table_run)]) == 2
    assert "not 'toy'" in capsys.readouterr().err


def test_ensemble_trains_members_and_round_trips(tmp_path, one_thread):
    space = NB201Space()
    train, y_train, test, _ = additive_task(space, 40, 30)
    predictor = make_predictor("paths", space, epochs=10, hidden=8, seed=2, ensemble=3).fit(train, y_train)
    assert len(predictor.net.members) == 3
    predictor.save(tmp_path / "p")
    np.testing.assert_array_equal(load_predictor(tmp_path / "p").predict(test), predictor.predict(test))
    with pytest.raises(UserError, match="ensemble=0 must be at least 1"):
        make_predictor("paths", space, ensemble=0)


def test_forest_ranks_from_proxy_columns_of_any_magnitude():
    """The combined estimator fitted on 60 cells whose score follows a proxy that spans 1e-30 to
    1e40 (synflow's range, with the degenerate floor -1e30) ranks held-out cells by it."""
    from scipy import stats

    from predictors.forest import ForestEstimator
    from search_spaces.nb201 import NB201Space

    space = NB201Space()
    rng = np.random.default_rng(0)
    archs = list({space.sample(rng) for _ in range(200)})[:120]
    truth = np.array([float(space.params(a)) for a in archs])
    proxy = 10.0 ** (40 * (truth - truth.min()) / np.ptp(truth))  # 1 .. 1e40, monotone in the truth
    proxy[0] = -1e30
    forest = ForestEstimator(space, trees=50, seed=0).fit(archs[:60], truth[:60], proxy[:60, None])
    predicted = forest.predict(archs[60:], proxy[60:, None])
    assert np.isfinite(predicted).all()
    assert stats.kendalltau(predicted, truth[60:]).statistic > 0.7
