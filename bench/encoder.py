"""Encoder performance: pretraining time per epoch, batch embedding throughput, single-session latency.

    python bench/encoder.py [--data-dir DIR] [--sequences MART.parquet] [--sessions 100000] [--threads 1 2]
                            [--device auto|cpu|cuda] [--skip-speed]

--device defaults to the `encoder_device` setting (CLICKINTENT_ENCODER_DEVICE, default auto).

Targets (docs/design.md): pretraining on 100k sessions <= 3 min per epoch on CPU; batch embedding
>= 5k sessions/s; single session <= 1 ms. Uses the sequence mart in <data dir>/marts/ when it
holds enough sessions, else synthesizes them in the mart's schema (clickintent.encoder.synthetic).
With --sequences, the mart is read from that file (e.g. a demo world's) and the report still goes
to this data dir. Prints the figures and writes <data dir>/reports/bench_encoder.json. The model
is trained in a temporary directory; nothing in the models directory is touched. Pretraining is
timed once per thread count given (one epoch each, same seed, same batches).
With --device cuda (or auto on a GPU machine) pretraining and batch embedding run on the GPU
with their CUDA batches and bf16 autocast (clickintent.encoder.device), and pretraining is also
timed at the CPU batch of 256; single-session latency stays on CPU, as the service runs it.

Optional studies behind the encoder's choices (docs/measurements.md, "Encoder") (minutes each, off by default):
--ablations            pooling, contrastive term and search queries: the intent probe of
                       evaluate.py after 2 epochs of each variant, on the whole mart (needs the
                       world's ground_truth/ beside its marts/);
--next-item-subsamples TRAIN TEST [--subsample-sizes 1000 3000 10000]
                       the next-item benchmark (settings chosen on each training sample alone)
                       on the latest N sessions of TRAIN and on all of it, the same TEST file;
--next-item-variants TRAIN VALID
                       the next-item encoder as configured, with a copy head, and with random
                       (not length-sorted) batches, on a hyper-parameter split of click data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clickintent.artifacts import atomic_write_json
from clickintent.encoder.artifacts import StoredEncoder
from clickintent.encoder.clicks import read_clicks
from clickintent.encoder.device import DEVICE_CHOICES, embed_batch_size, settings_device
from clickintent.encoder.embed import SessionEmbedder, read_sequences
from clickintent.encoder.model import count_parameters
from clickintent.encoder.paths import EncoderPaths
from clickintent.encoder.pipeline import PretrainConfig, on_device
from clickintent.encoder.synthetic import synthesize_sequences
from clickintent.encoder.tokens import MiniLMQueryEmbedder, fit_vocabulary, mart_row_events, tokenize_sequences
from clickintent.encoder.train import build_model, fit, split_by_time
from clickintent.settings import Settings, load_settings


def load_sessions(mart: Path, n_sessions: int, seed: int) -> tuple[pd.DataFrame, str]:
    if mart.exists():
        frame = read_sequences(mart)
        if len(frame) >= n_sessions:
            return frame.sort_values("session_end_ts", kind="stable").tail(n_sessions).reset_index(drop=True), f"mart {mart}"
    frame, _ = synthesize_sequences(n_sessions, seed)
    return frame, "synthetic (clickintent.encoder.synthetic)"


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def time_single(embedder: SessionEmbedder, sessions: list[list[dict]], repeats: int) -> dict:
    for events in sessions[:50]:
        embedder.embed_events(events)  # warm-up
    timings = []
    for k in range(repeats):
        events = sessions[k % len(sessions)]
        tick = time.perf_counter()
        embedder.embed_events(events)
        timings.append((time.perf_counter() - tick) * 1000.0)
    return {"p50_ms": percentile(timings, 50), "p99_ms": percentile(timings, 99), "mean_ms": statistics.fmean(timings), "calls": repeats}


def probe_ablations(mart: Path) -> dict:
    """Probe macro-F1 of encoder variants (2 epochs each) against bag-of-taxonomy-nodes."""
    from clickintent.encoder.evaluate import probe_embeddings
    from clickintent.encoder.pipeline import _pretrain, prepare_sessions

    ground_truth = mart.parent.parent / "ground_truth"
    frame = read_sequences(mart)
    base = PretrainConfig()
    base = replace(base, training=replace(base.training, max_epochs=2, patience=5))
    variants = {
        "mean pooling (default)": base,
        "max pooling": replace(base, pooling="max"),
        "mean_max pooling": replace(base, pooling="mean_max"),
        "mean + contrastive 0.1": replace(base, training=replace(base.training, contrastive_weight=0.1)),
        "mean, no search queries": replace(base, use_queries=False),
    }
    results: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        prepared: dict = {}
        for name, config in variants.items():
            if config.use_queries not in prepared:
                prepared[config.use_queries] = prepare_sessions(frame, config, EncoderPaths(Settings(data_dir=Path(scratch))).query_cache)
            sessions = prepared[config.use_queries]
            tick = time.perf_counter()
            variant = EncoderPaths(Settings(data_dir=Path(scratch) / name, models_dir=Path(scratch) / name))
            model, card, result = _pretrain(sessions, variant, config, False, None)
            seconds = time.perf_counter() - tick
            embeddings = SessionEmbedder(StoredEncoder(model, sessions.vocabulary, card)).embed_tokens(sessions.tokens)
            probe = probe_embeddings(frame, embeddings, ground_truth)
            results[name] = {
                "embedding_macro_f1": round(probe["embedding"]["macro_f1"], 4),
                "bag_of_nodes_macro_f1": round(probe["bag_of_taxonomy_nodes"]["macro_f1"], 4),
                "validation_loss": round(result.best_validation_loss, 4),
                "train_seconds": round(seconds, 1),
            }
            print(f"ablation {name}: {results[name]}")
    return results


def next_item_variants(train: Path, valid: Path) -> dict:
    """The benchmark's encoder, with a copy head, and with random batches, on a validation split."""
    from clickintent.encoder.benchmark import BENCHMARK_ENCODER, BENCHMARK_TRAINING, EncoderNextItem, run_benchmark

    variants = {
        "as configured": EncoderNextItem(),
        "copy head": EncoderNextItem(model_config=replace(BENCHMARK_ENCODER, copy_head=True)),
        "random batches": EncoderNextItem(train_config=replace(BENCHMARK_TRAINING, bucket_by_length=False)),
    }
    results: dict = {}
    for name, model in variants.items():
        report = run_benchmark(train, valid, None, models=[model], log=lambda _: None)
        results[name] = {**report["models"]["encoder"], "fit_seconds": report["seconds"]["encoder"]["fit"]}
        print(f"next-item variant {name}: {results[name]}")
    return results


def latest_sessions(clicks: pd.DataFrame, n_sessions: int) -> pd.DataFrame:
    """The clicks (as clicks.read_clicks gives them) of the `n_sessions` sessions whose last click is latest."""
    ends = clicks.groupby("session")["time"].max().sort_values(kind="stable")
    return clicks[clicks["session"].isin(ends.index[-n_sessions:])]


def next_item_subsamples(train: Path, test: Path, sizes: list[int], seed: int, device: str) -> dict:
    """The benchmark (settings chosen on each training sample alone) on the latest `sizes` sessions
    of the training file and on all of it, the same test file; a row per model, and whether the
    validated choice matches the best baseline on both metrics at each size."""
    from clickintent.encoder.benchmark import run_benchmark
    from clickintent.encoder.choice import BASELINE_NAMES, METRICS

    clicks = read_clicks(train)
    n_total = clicks["session"].nunique()
    results: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        for size in [*sorted(n for n in sizes if n < n_total), n_total]:
            label = f"{size} sessions" if size < n_total else f"full ({size} sessions)"
            if size < n_total:
                sample = Path(scratch) / f"train_{size}.tsv"
                latest_sessions(clicks, size).to_csv(sample, sep="\t", index=False)
            else:
                sample = train
            report = run_benchmark(sample, test, None, log=lambda _: None, seed=seed, device=device)
            models = report["models"]
            best = {m: max(BASELINE_NAMES, key=lambda name: models[name][m]) for m in METRICS}
            chosen = models["validated_choice"]
            results[label] = {
                "models": models,
                "best_baseline": {m: {"model": best[m], "value": models[best[m]][m]} for m in METRICS},
                "validated_choice_at_least_best_baseline": {m: chosen[m] >= models[best[m]][m] for m in METRICS},
                "chosen": report["choice"]["chosen"],
                "why": report["choice"]["why"],
                "seconds": report["total_seconds"],
            }
            row = "  ".join(f"{m} {chosen[m]:.4f} vs {best[m]} {models[best[m]][m]:.4f}" for m in METRICS)
            print(f"next-item, {label}: validated choice {row}; {report['total_seconds']:.0f}s")
            for name, scores in models.items():
                print(f"    {name:20s} " + "  ".join(f"{m} {scores[m]:.4f}" for m in METRICS))
    return results


def measure_speed(args: argparse.Namespace, settings: Settings, config: PretrainConfig, report: dict) -> None:
    """Pretraining epochs, batch embedding and single-session latency on the demo mart (or synthetic sessions)."""
    tick = time.perf_counter()
    frame, source = load_sessions(args.sequences or EncoderPaths(settings).sequences, args.sessions, settings.seed)
    n_events = int(frame["page_paths"].map(len).sum())
    report["data"] = {"source": source, "sessions": len(frame), "events": n_events, "load_seconds": round(time.perf_counter() - tick, 2)}
    print(f"{len(frame):,} sessions, {n_events:,} events from {source}")

    with tempfile.TemporaryDirectory() as scratch:
        # Query vectors: the real MiniLM path, its cache in the scratch directory.
        tick = time.perf_counter()
        queries = MiniLMQueryEmbedder(Path(scratch) / "query_embeddings.parquet")
        end = pd.to_datetime(frame["session_end_ts"], utc=True).to_numpy()
        train_rows, validation_rows = split_by_time(end, config.validation_fraction)
        vocabulary = fit_vocabulary(frame.iloc[train_rows], config.min_page_count, n_oov_buckets=config.n_oov_buckets)
        tokens = tokenize_sequences(frame, vocabulary, config.max_len, queries)
        distinct_queries = tokens.query_vectors.shape[0] - 1
        report["tokenize"] = {"seconds_including_minilm": round(time.perf_counter() - tick, 2), "distinct_queries": int(distinct_queries)}
        print(
            f"tokenized (MiniLM over {distinct_queries} distinct queries included) in {report['tokenize']['seconds_including_minilm']:.1f}s"
        )

        model_config = config.model_config(vocabulary.vocab_sizes(), queries.dim)
        train_tokens, validation_tokens = tokens.subset(train_rows), tokens.subset(validation_rows)
        variants = [(f"masked, {n} thread{'s' if n > 1 else ''}", replace(config.training, max_epochs=1, threads=n)) for n in args.threads]
        if config.training.device == "cuda":
            # The CPU batch on the GPU, beside the GPU batch: what the larger batch is worth.
            variants.append(("masked, cuda, batch 256", replace(config.training, max_epochs=1, batch_size=256)))
        if args.contrastive:
            variants.append(("masked+contrastive, 1 thread", replace(config.training, max_epochs=1, threads=1, contrastive_weight=0.1)))
        report["pretrain"] = {}
        model = None
        for name, training in variants:
            variant_config = replace(model_config, contrastive_dim=model_config.d_model if training.contrastive_weight else 0)
            model = build_model(variant_config, training.seed)
            result = fit(model, train_tokens, validation_tokens, training, Path(scratch) / name.replace(" ", "_"), progress=False)
            seconds = result.history[0]["train_seconds"]
            per_100k = seconds * 100_000 / len(train_rows)
            report["pretrain"][name] = {
                "train_sessions": int(len(train_rows)),
                "epoch_seconds": round(seconds, 1),
                "epoch_seconds_per_100k_sessions": round(per_100k, 1),
                "parameters": count_parameters(model),
                "threads": training.threads,
                "device": training.device,
                "batch_size": training.batch_size,
                "sessions_per_second": round(len(train_rows) / seconds),
            }
            print(f"pretraining ({name}): {seconds:.1f}s per epoch on {len(train_rows):,} sessions = {per_100k:.1f}s per 100k")
        model = build_model(model_config, config.training.seed)  # weights do not change the speed
        model.eval()
        stored = StoredEncoder(model=model, vocabulary=vocabulary, card={})

        embedder = SessionEmbedder(stored, queries, threads=args.embed_threads, device=config.training.device)
        # The batch `clickintent encoder embed` uses by default on this device.
        batch_size = embed_batch_size(None, config.training.device, cpu_default=256)
        embedder.embed_tokens(tokens.subset(np.arange(min(2000, tokens.n_sessions))))  # warm-up
        tick = time.perf_counter()
        embedder.embed_tokens(tokens, batch_size=batch_size)
        model_seconds = time.perf_counter() - tick
        tick = time.perf_counter()
        embedder.embed_frame(frame, batch_size=batch_size)
        frame_seconds = time.perf_counter() - tick
        report["batch_embedding"] = {
            "device": config.training.device,
            "batch_size": batch_size,
            "sessions": len(frame),
            "threads": args.embed_threads,
            "sessions_per_second_from_mart_rows": round(len(frame) / frame_seconds),
            "sessions_per_second_model_only": round(len(frame) / model_seconds),
        }
        print(
            f"batch embedding: {len(frame) / frame_seconds:,.0f} sessions/s from mart rows "
            f"({len(frame) / model_seconds:,.0f}/s for the model alone)"
        )
        # PyTorch's inference fast paths for the same model (docs/measurements.md, "Encoder": why the default is what it is).
        sample = tokens.subset(np.arange(min(20_000, tokens.n_sessions)))
        # (Nested tensors are not among them: SessionEncoder calls its layers directly, on dense
        # length-bucketed batches.)
        paths: dict[str, int] = {}
        for label, fastpath in (("fused_kernel", True), ("plain_modules", False)):
            torch.backends.mha.set_fastpath_enabled(fastpath)
            tick = time.perf_counter()
            embedder.embed_tokens(sample, batch_size=batch_size)
            paths[label] = round(sample.n_sessions / (time.perf_counter() - tick))
        torch.backends.mha.set_fastpath_enabled(True)
        report["batch_embedding"]["model_only_sessions_per_second_by_inference_path"] = paths
        print(f"inference paths (model only, sessions/s): {paths}")

        queries.save()
        online = SessionEmbedder(stored, MiniLMQueryEmbedder(Path(scratch) / "query_embeddings.parquet", allow_model=False), threads=1)
        lengths = frame["page_paths"].map(len)
        report["single_session"] = {"threads": 1}
        for label, rows in (("typical", frame.sample(min(500, len(frame)), random_state=1)), ("50_events", frame[lengths >= 50].head(200))):
            if rows.empty:
                continue
            live = [mart_row_events(row)[-50:] for _, row in rows.iterrows()]
            figures = time_single(online, live, repeats=3000)
            # The same sessions through the torch model (the path before encoder/live_forward.py,
            # and the one a model LiveForward does not cover takes).
            live_forward, online._live_forward = online._live_forward, None
            torch_figures = time_single(online, live, repeats=3000)
            online._live_forward = live_forward
            figures["forward_pass"] = "numpy" if live_forward is not None else "torch"
            figures["torch_p50_ms"], figures["torch_p99_ms"] = torch_figures["p50_ms"], torch_figures["p99_ms"]
            figures["mean_events"] = float(np.mean([len(e) for e in live]))
            report["single_session"][label] = figures
            print(
                f"single session ({label}, {figures['mean_events']:.0f} events): p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms "
                f"({figures['forward_pass']} forward pass); torch forward pass p50 {figures['torch_p50_ms']:.3f} ms, p99 {figures['torch_p99_ms']:.3f} ms"
            )
        report["architecture"] = json.loads(model_config.to_json())
        report["architecture"]["vocab_sizes"] = model_config.vocab_sizes
        report["training_config"] = asdict(config.training)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--sequences", type=Path, default=None, help="sequence mart to read (default: the data dir's)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to time pretraining with")
    parser.add_argument("--embed-threads", type=int, default=1, help="torch threads for batch embedding")
    parser.add_argument("--contrastive", action="store_true", help="also time an epoch with the contrastive term")
    parser.add_argument("--ablations", action="store_true", help="probe macro-F1 of pooling/contrastive/query variants")
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default=None,
        help="where to pretrain, embed in batch and run the benchmark (default: the encoder_device setting, auto unless set)",
    )
    parser.add_argument("--skip-speed", action="store_true", help="skip the speed figures (pretraining, embedding, latency)")
    parser.add_argument(
        "--next-item-subsamples",
        type=Path,
        nargs=2,
        metavar=("TRAIN", "TEST"),
        default=None,
        help="click files: the next-item benchmark on the latest --subsample-sizes sessions of TRAIN and on all of it, same TEST",
    )
    parser.add_argument("--subsample-sizes", type=int, nargs="+", default=[1000, 3000, 10_000])
    parser.add_argument(
        "--next-item-variants",
        type=Path,
        nargs=2,
        metavar=("TRAIN", "VALID"),
        default=None,
        help="click files of a hyper-parameter split for the next-item variants",
    )
    args = parser.parse_args(argv)
    try:  # an unknown setting, or cuda without a GPU: a usage error naming it, not a traceback
        settings = load_settings(data_dir=args.data_dir, encoder_device=args.device)
        device = settings_device(settings)
    except ValueError as error:
        parser.error(str(error))
    config = on_device(PretrainConfig(), device)
    report: dict = {
        # The machine is shared: the 1-minute load average says how contended the figures are.
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "platform": platform.platform(),
            "load_average_1m_at_start": os.getloadavg()[0],
            "device": device,
            "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        },
        "targets": {"pretrain_seconds_per_epoch_100k": 180, "batch_sessions_per_second": 5000, "single_session_ms": 1.0},
    }

    if not args.skip_speed:
        measure_speed(args, settings, config, report)

    mart = args.sequences or EncoderPaths(settings).sequences
    if args.ablations:
        report["ablations"] = probe_ablations(mart)
    if args.next_item_variants:
        report["next_item_validation_variants"] = next_item_variants(*args.next_item_variants)
    if args.next_item_subsamples:
        report["next_item_subsamples"] = next_item_subsamples(*args.next_item_subsamples, args.subsample_sizes, settings.seed, device)
    report["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
    out = settings.reports_dir / "bench_encoder.json"
    atomic_write_json(out, report)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
