"""The next-item benchmark harness: protocol, baselines and the `encoder benchmark` command."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest
from typer.testing import CliRunner

from clickintent.cli.encoder import encoder_app
from clickintent.encoder.baselines import FirstOrderMarkov, Popularity, SessionKNN, SessionPopularity
from clickintent.encoder.benchmark import BENCHMARK_ENCODER, BENCHMARK_TRAINING, EncoderNextItem, run_benchmark
from clickintent.encoder.clicks import ClickDataError, ItemIndex, all_prefixes, read_clicks, to_sessions
from clickintent.settings import load_settings
from support.click_files import chain_sessions, write_clicks

YOOCHOOSE = load_settings().project_dir.resolve().parent / "shared" / "datasets" / "yoochoose_rsc15_100k"


def tiny_encoder(epochs: int = 6) -> EncoderNextItem:
    return EncoderNextItem(
        model_config=replace(BENCHMARK_ENCODER, d_model=32, d_ff=64, max_len=16),
        train_config=replace(BENCHMARK_TRAINING, max_epochs=epochs, batch_size=32, learning_rate=3e-3, threads=1),
    )


def test_protocol_drops_unknown_items_and_short_sessions_then_predicts_every_prefix(tmp_path):
    train = read_clicks(write_clicks(tmp_path / "train.tsv", [["a", "b", "c"], ["b", "c"]]))
    test = read_clicks(write_clicks(tmp_path / "test.tsv", [["a", "x", "b", "c"], ["x", "a"], ["c", "b"]]))
    index = ItemIndex.fit(train)
    sessions, report = to_sessions(test, index, min_length=2)
    assert report["clicks_on_unknown_items_dropped"] == 2
    assert sessions.n_sessions == 2  # ["x", "a"] is left with one click
    prefixes = all_prefixes(sessions)
    # [a, b, c] gives 2 predictions, [c, b] gives 1.
    assert len(prefixes) == 3
    assert sorted(index.ids[prefixes.targets - 1].tolist()) == ["b", "b", "c"]


def test_markov_and_knn_beat_popularity_on_sequential_data(tmp_path):
    train_path = write_clicks(tmp_path / "train.tsv", chain_sessions(300, seed=1))
    test_path = write_clicks(tmp_path / "test.tsv", chain_sessions(60, seed=2), start=1_500_000_000.0)
    models = [
        Popularity(),
        SessionPopularity(),
        FirstOrderMarkov(),
        SessionKNN(k=20, sample_size=100, vector=True, name="vsknn"),
        tiny_encoder(),
    ]
    report = run_benchmark(train_path, test_path, tmp_path / "out.json", models=models, log=lambda _: None)
    results = report["models"]
    for metric in ("recall@20", "mrr@20"):
        assert results["markov"][metric] > results["popularity"][metric]
        assert results["encoder"][metric] > results["popularity"][metric]
    # The next item is a deterministic function of the last one here: Markov ranks it first.
    assert results["markov"]["mrr@20"] > 0.95
    written = json.loads((tmp_path / "out.json").read_text())
    assert set(written["models"]) == {"popularity", "session_popularity", "markov", "vsknn", "encoder"}


def test_benchmark_command_writes_the_report(tmp_path):
    train_path = write_clicks(tmp_path / "train.tsv", chain_sessions(120, seed=3))
    test_path = write_clicks(tmp_path / "test.tsv", chain_sessions(20, seed=4), start=1_500_000_000.0)
    out = tmp_path / "reports" / "bench.json"
    result = CliRunner().invoke(
        encoder_app, ["benchmark", "--train", str(train_path), "--test", str(test_path), "--out", str(out), "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    models = report["models"]
    assert {"encoder", "validated_choice", "popularity", "session_popularity", "markov", "session_knn", "vector_session_knn"} <= set(models)
    for scores in models.values():
        assert 0.0 <= scores["mrr@20"] <= scores["recall@20"] <= 1.0
    # What was chosen, and why, is in the report and on the console.
    assert report["choice"]["chosen"]["weights"] and report["choice"]["why"] in " ".join(result.output.split())


def test_benchmark_command_names_what_is_wrong_with_the_input(tmp_path):
    good = write_clicks(tmp_path / "good.tsv", chain_sessions(10, seed=5))
    bad_time = tmp_path / "bad.tsv"
    bad_time.write_text("SessionId\tItemId\tTime\n1\ta\tyesterday\n")
    runner = CliRunner()
    missing = runner.invoke(
        encoder_app, ["benchmark", "--train", str(tmp_path / "nope.tsv"), "--test", str(good), "--out", str(tmp_path / "o.json")]
    )
    assert missing.exit_code == 2 and "does not exist" in missing.output
    non_numeric = runner.invoke(
        encoder_app, ["benchmark", "--train", str(bad_time), "--test", str(good), "--out", str(tmp_path / "o.json")]
    )
    assert non_numeric.exit_code == 2 and "non-numeric time" in non_numeric.output
    assert not (tmp_path / "o.json").exists()
    with pytest.raises(ClickDataError, match="three columns"):
        two = tmp_path / "two.csv"
        two.write_text("session,item\n1,a\n")
        read_clicks(two)


def test_bench_subsamples_take_the_latest_sessions_by_column_name(tmp_path, monkeypatch, capsys):
    from bench.encoder import next_item_subsamples
    from clickintent.encoder import benchmark
    from clickintent.encoder.choice import BASELINE_NAMES

    # Columns out of the usual order; session ids run against time, so the latest are "s0" and "s1".
    clicks = [(f"s{n}", item, 1_400_000_000 - n * 3600 + k * 30) for n in range(5) for k, item in enumerate("abc")]
    train = tmp_path / "train.csv"
    pd.DataFrame(clicks, columns=["SessionId", "ItemId", "Time"])[["Time", "ItemId", "SessionId"]].to_csv(train, index=False)
    sampled = []

    def record(sample, _test, _out, **_options):
        sampled.append(sorted(read_clicks(sample)["session"].unique()))
        models = {name: {"recall@20": 0.5, "mrr@20": 0.2} for name in (*BASELINE_NAMES, "validated_choice")}
        return {"models": models, "choice": {"chosen": {}, "why": "-"}, "total_seconds": 0.0}

    monkeypatch.setattr(benchmark, "run_benchmark", record)
    results = next_item_subsamples(train, train, [2], seed=7, device="cpu")
    capsys.readouterr()
    assert sampled == [["s0", "s1"], [f"s{n}" for n in range(5)]]
    assert list(results) == ["2 sessions", "full (5 sessions)"]


@pytest.mark.slow
@pytest.mark.skipif(not YOOCHOOSE.is_dir(), reason=f"yoochoose_rsc15_100k not found at {YOOCHOOSE}")
def test_encoder_beats_popularity_on_a_yoochoose_subsample(tmp_path):
    train = pd.read_csv(YOOCHOOSE / "yoochoose-clicks-100k_train_full.txt", sep="\t")
    test = pd.read_csv(YOOCHOOSE / "yoochoose-clicks-100k_test.txt", sep="\t")
    train = train[train["SessionId"].isin(train["SessionId"].unique()[-2000:])]
    test = test[test["SessionId"].isin(test["SessionId"].unique()[:300])]
    train.to_csv(tmp_path / "train.tsv", sep="\t", index=False)
    test.to_csv(tmp_path / "test.tsv", sep="\t", index=False)
    encoder = tiny_encoder(epochs=5)
    encoder.model_config = replace(BENCHMARK_ENCODER, d_model=64, d_ff=128)
    report = run_benchmark(tmp_path / "train.tsv", tmp_path / "test.tsv", None, models=[Popularity(), encoder], log=lambda _: None)
    for metric in ("recall@20", "mrr@20"):
        assert report["models"]["encoder"][metric] > report["models"]["popularity"][metric] + 0.1
