"""`clickintent encoder ...`: train, embed, evaluate the session encoder; benchmark it on click data.

Wired into the main CLI with `app.add_typer(encoder_app, name="encoder")`. torch is imported
inside the commands so that `--help` stays instant.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from clickintent.cli.locks import stage_guard
from clickintent.settings import load_settings

encoder_app = typer.Typer(
    help="Self-supervised session encoder: pretrain, embed every session, probe, next-item benchmark.",
    no_args_is_help=True,
)
console = Console(stderr=True)

DataDirOption = typer.Option(None, "--data-dir", help="Run-time data directory (default: $CLICKINTENT_DATA_DIR or ./data).")
ModelsDirOption = typer.Option(None, "--models-dir", help="Model directory (default: $CLICKINTENT_MODELS_DIR or ./models).")
DeviceOption = typer.Option(
    None, "--device", help="auto, cpu or cuda (default: $CLICKINTENT_ENCODER_DEVICE or auto: cuda when torch sees a GPU)."
)


def _fail(error: Exception) -> None:
    # Plain text (no markup parsing of brackets in the message), unwrapped so paths stay whole.
    console.print(Text(str(error), style="red"), soft_wrap=True)
    raise typer.Exit(code=2) from error


@encoder_app.command("train")
def train(
    data_dir: Path | None = DataDirOption,
    models_dir: Path | None = ModelsDirOption,
    sequences: Path | None = typer.Option(
        None, "--sequences", help="Sequence mart Parquet (default: <data dir>/marts/fct_session_sequences/, its files by day)."
    ),
    epochs: int = typer.Option(8, "--epochs", help="Maximum epochs; early stopping on the latest 10% of sessions may end sooner."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Sessions per step (default: 256 on CPU, 4,096 on CUDA)."),
    contrastive_weight: float = typer.Option(
        0.0, "--contrastive-weight", help="Weight of the InfoNCE term over augmented views (0 = off)."
    ),
    alignment_weight: float | None = typer.Option(
        None,
        "--alignment-weight",
        help="Weight of the alignment term: the pooled embedding predicts the session's taxonomy mix (0 = off; default: the encoder's default).",
    ),
    cross_platform_weight: float | None = typer.Option(
        None,
        "--cross-platform-weight",
        help="Weight of the cross-platform contrastive term: web and app sessions of the same dominant top node pulled together, no identity (0 = off; default: the encoder's default).",
    ),
    platform_adversary_weight: float | None = typer.Option(
        None,
        "--platform-adversary-weight",
        help="Weight of the term that trains the encoder to leave a platform classifier on the pooled embedding at even odds, no identity (0 = off; default: the encoder's default).",
    ),
    shared_view_weight: float | None = typer.Option(
        None,
        "--shared-view-weight",
        help="Weight of an InfoNCE between each session and its view without page, platform and view-type inputs (0 = off; default: the encoder's default).",
    ),
    no_queries: bool = typer.Option(False, "--no-queries", help="Leave search text out (no MiniLM)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed (default: settings seed)."),
    threads: int = typer.Option(1, "--threads", help="torch intra-op threads (one is fastest on a shared 2-core box)."),
    budget_seconds: float | None = typer.Option(
        None, "--budget-seconds", help="Start no epoch that would end after this many seconds of training; a rerun resumes."
    ),
    device: str | None = DeviceOption,
) -> None:
    """Pretrain the encoder (masked event modelling) on the sequence mart; save <models dir>/encoder/."""
    from dataclasses import replace

    from clickintent.encoder.device import settings_device
    from clickintent.encoder.paths import EncoderPaths
    from clickintent.encoder.pipeline import PretrainConfig, on_device, train_encoder, with_training

    try:
        settings = load_settings(data_dir=data_dir, models_dir=models_dir, seed=seed, encoder_device=device)
        resolved = settings_device(settings)
    except ValueError as error:
        _fail(error)
    # Options left unset keep the encoder's (and the device's) defaults.
    given = {
        "batch_size": batch_size,
        "alignment_weight": alignment_weight,
        "cross_platform_weight": cross_platform_weight,
        "platform_adversary_weight": platform_adversary_weight,
        "shared_view_weight": shared_view_weight,
    }
    config = with_training(
        on_device(replace(PretrainConfig(), use_queries=not no_queries), resolved),
        max_epochs=epochs,
        contrastive_weight=contrastive_weight,
        seed=settings.seed,
        threads=threads,
        **{name: value for name, value in given.items() if value is not None},
    )
    try:
        with stage_guard(settings, "encoder train"):
            card = train_encoder(settings, config, sequences=sequences, log=console.print, budget_seconds=budget_seconds)
    except (FileNotFoundError, ValueError) as error:
        _fail(error)
    console.print(
        f"encoder {card['version']} saved to {EncoderPaths(settings).model_dir}: best epoch {card['training']['best_epoch']}, "
        f"validation loss {card['metrics']['validation_loss']:.4f}, {card['seconds']:.0f}s"
    )


@encoder_app.command("embed")
def embed(
    data_dir: Path | None = DataDirOption,
    models_dir: Path | None = ModelsDirOption,
    sequences: Path | None = typer.Option(None, "--sequences", help="Sequence mart Parquet (default: the mart in the data dir)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Sessions per batch (default: 256 on CPU, 8,192 on CUDA)."),
    threads: int = typer.Option(1, "--threads", help="torch intra-op threads."),
    device: str | None = DeviceOption,
) -> None:
    """Embed every session to <data dir>/embeddings/ (sessions, and customers' web embedding as of each linked session)."""
    from clickintent.encoder.device import embed_batch_size, settings_device
    from clickintent.encoder.embed import embed_all

    try:
        settings = load_settings(data_dir=data_dir, models_dir=models_dir, encoder_device=device)
        resolved = settings_device(settings)
    except ValueError as error:
        _fail(error)
    # 256 on CPU: the batch this command has always embedded with, so its output stays byte for byte.
    batch_size = embed_batch_size(batch_size, resolved, cpu_default=256)
    try:
        with stage_guard(settings, "encoder embed"):
            summary = embed_all(settings, sequences=sequences, batch_size=batch_size, threads=threads, device=resolved)
    except (FileNotFoundError, ValueError) as error:
        _fail(error)
    console.print(
        f"{summary.sessions:,} sessions ({summary.sessions_per_second:,.0f}/s) -> {summary.session_path}; "
        f"{summary.customers:,} customers, {summary.customer_rows:,} as-of rows -> {summary.customer_path}"
    )


@encoder_app.command("evaluate")
def evaluate(
    data_dir: Path | None = DataDirOption,
    models_dir: Path | None = ModelsDirOption,
    out: Path | None = typer.Option(None, "--out", help="Report file (default: <data dir>/reports/encoder.json)."),
) -> None:
    """Linear probe on the hidden true intents: embeddings vs bag-of-taxonomy-node counts (macro-F1), within and across platforms."""
    from clickintent.encoder.pipeline import evaluate_encoder

    settings = load_settings(data_dir=data_dir, models_dir=models_dir)
    try:
        with stage_guard(settings, "encoder evaluate"):
            report = evaluate_encoder(settings, out_path=out)
    except (FileNotFoundError, ValueError) as error:
        _fail(error)
    console.print(
        f"macro-F1 embedding {report['embedding']['macro_f1']:.4f} vs bag of taxonomy nodes "
        f"{report['bag_of_taxonomy_nodes']['macro_f1']:.4f} ({report['sessions']['test']:,} test sessions)"
    )
    _print_cross_platform(report["cross_platform"])


def _print_cross_platform(cross: dict) -> None:
    """The cross-platform probe as a table: a row per cell, macro-F1 (accuracy) per representation."""
    from rich.table import Table

    from clickintent.encoder.evaluate import CROSS_OVER_WITHIN, CROSS_PLATFORM_CELLS

    if "not_measured" in cross:
        console.print(Text(f"cross-platform probe not measured: {cross['not_measured']}", style="yellow"), soft_wrap=True)
        return
    representations = cross["representations"]
    measured = {name: result for name, result in representations.items() if "not_measured" not in result}
    sessions = ", ".join(f"{p} {n['train']:,} train / {n['test']:,} test" for p, n in cross["sessions"].items())
    table = Table(title=f"cross-platform intent probe: macro-F1 (accuracy); {sessions}")
    table.add_column("train -> test")
    for name in measured:
        table.add_column(name.replace("_", " "), justify="right")
    for cell, (train, test) in CROSS_PLATFORM_CELLS.items():
        table.add_row(f"{train} -> {test}", *[f"{r[cell]['macro_f1']:.3f} ({r[cell]['accuracy']:.3f})" for r in measured.values()])
    for cross_cell, within_cell in CROSS_OVER_WITHIN.items():
        key = f"{cross_cell}_over_{within_cell}"
        ratios = [r["ratio_macro_f1"][key] for r in measured.values()]
        table.add_row(f"{cross_cell} / {within_cell}", *["-" if v is None else f"{v:.3f}" for v in ratios])
    console.print(table)
    for name, result in representations.items():
        if name not in measured:
            console.print(Text(f"{name}: {result['not_measured']}", style="yellow"), soft_wrap=True)
    target = cross["target"]
    if target["met"] is None:
        console.print(f"target (embedding cross >= {target['min_ratio']} x within macro-F1): not measured, {target['not_measured']}")
    else:
        verdict = "met" if target["met"] else "not met"
        console.print(
            f"target (embedding cross >= {target['min_ratio']} x within macro-F1): {verdict}, "
            f"lowest ratio {target['measured_min_ratio']:.3f}"
        )


@encoder_app.command("benchmark")
def benchmark(
    train: Path = typer.Option(
        ..., "--train", help="Training clicks: session id, item id, unix time (tab or comma separated, with header)."
    ),
    test: Path = typer.Option(..., "--test", help="Test clicks in the same format."),
    out: Path = typer.Option(..., "--out", help="JSON report to write."),
    seed: int | None = typer.Option(None, "--seed"),
    threads: int = typer.Option(1, "--threads", help="torch intra-op threads for the encoder."),
    device: str | None = DeviceOption,
) -> None:
    """Next-item benchmark: the encoder, with settings chosen on a time split of the training file, vs
    popularity, in-session popularity, Markov and session kNN (Recall@20, MRR@20)."""
    from clickintent.encoder.benchmark import run_benchmark
    from clickintent.encoder.choice import BASELINE_NAMES, METRICS
    from clickintent.encoder.clicks import ClickDataError
    from clickintent.encoder.device import settings_device

    try:
        settings = load_settings(seed=seed, encoder_device=device)
        report = run_benchmark(train, test, out, log=console.print, seed=settings.seed, threads=threads, device=settings_device(settings))
    except (ClickDataError, ValueError) as error:
        _fail(error)
    results = report["models"]
    for metric in METRICS:
        best = max(BASELINE_NAMES, key=lambda name: results[name][metric])
        console.print(
            f"{metric}: validated choice {results['validated_choice'][metric]:.4f}, encoder alone {results['encoder'][metric]:.4f}, "
            f"best baseline {best} {results[best][metric]:.4f}"
        )
    console.print(f"chosen on the training file alone: {report['choice']['why']}", soft_wrap=True)
    console.print(f"wrote {out} in {report['total_seconds'] / 60:.1f} min")
