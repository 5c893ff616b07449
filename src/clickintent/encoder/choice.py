"""The next-item benchmark's settings, chosen on a time split of the training file alone.

`choose_next_item_model(train, n_items)` sees only the training sessions. It holds out the latest
VALIDATION_FRACTION of them by end time (test clicks on items absent from the earlier part
dropped, then sessions under two clicks, as the protocol treats a test file), and on that split:

1. fits each of ENCODER_CANDIDATES (width, copy head) on the earlier part for at most MAX_EPOCHS,
   stopping early on the validation loss: its best epoch is the epoch count of the final fit
   (whose cosine learning-rate schedule then spans those epochs);
2. fits the baselines on the earlier part and scores the held-out prefixes;
3. scores every blend a * encoder + b * kNN + c * in-session popularity of row-normalised
   scores, for each kNN variant and (a, b, c) on the grid of BLEND_STEP with a + b + c = 1 (a
   corner is one model alone; in-session popularity stands for repeat clicks);
4. picks the blend with the highest worst ratio to the best baseline over Recall@20 and MRR@20
   (a blend above 1 beats every baseline on both), earlier candidates first on ties.

The benchmark then fits the chosen encoder and the baselines on the whole training file and scores
the chosen blend on the test file as `validated_choice`. The report's "choice" section holds every figure behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from clickintent.encoder.baselines import FirstOrderMarkov, NextItemModel, Popularity, SessionKNN, SessionPopularity
from clickintent.encoder.benchmark import BENCHMARK_ENCODER, BENCHMARK_TRAINING, CUTOFF, EncoderNextItem
from clickintent.encoder.clicks import ClickSessions, Prefixes, all_prefixes
from clickintent.encoder.metrics import recall_mrr, target_ranks
from clickintent.encoder.train import split_by_time

# The latest share of training sessions (by end time) the choice validates on.
VALIDATION_FRACTION = 0.15
# Early stopping bounds each candidate's epochs; the cosine schedule spans this many.
MAX_EPOCHS = BENCHMARK_TRAINING.max_epochs
BLEND_STEP = 0.25
REPEAT_PARTNER = "session_popularity"
# Held-out predictions scored per blend: a seeded sample beyond this, or beyond
# MAX_VALIDATION_SCORES / items, bounds the stored score matrices (the two kNN variants', in-session
# popularity's and a candidate encoder's; 8 bytes a score).
MAX_VALIDATION_PREDICTIONS = 5000
MAX_VALIDATION_SCORES = 25_000_000
METRICS = (f"recall@{CUTOFF}", f"mrr@{CUTOFF}")


@dataclass(frozen=True)
class EncoderCandidate:
    name: str
    d_model: int
    d_ff: int
    copy_head: bool


# Width 128 is the setting chosen on YOOCHOOSE's own split; width 64 suits fewer sessions; the
# copy head points at the session's own clicks, for data with many repeat clicks.
ENCODER_CANDIDATES = (
    EncoderCandidate("width 128", 128, 256, False),
    EncoderCandidate("width 128 + copy head", 128, 256, True),
    EncoderCandidate("width 64", 64, 128, False),
    EncoderCandidate("width 64 + copy head", 64, 128, True),
)


def baseline_models() -> list[NextItemModel]:
    """The benchmark's baselines, fresh; its session-kNN variants are the blends' kNN candidates."""
    return [
        Popularity(),
        SessionPopularity(),
        FirstOrderMarkov(),
        SessionKNN(k=100, sample_size=500, name="session_knn"),
        SessionKNN(k=100, sample_size=500, vector=True, idf_weighting=1.0, name="vector_session_knn"),
    ]


BASELINE_NAMES = tuple(model.name for model in baseline_models())


def candidate_encoder(
    candidate: EncoderCandidate,
    *,
    seed: int,
    threads: int,
    device: str,
    max_epochs: int = MAX_EPOCHS,
    log: Callable[[str], None] | None = None,
) -> EncoderNextItem:
    return EncoderNextItem(
        model_config=replace(BENCHMARK_ENCODER, d_model=candidate.d_model, d_ff=candidate.d_ff, copy_head=candidate.copy_head),
        train_config=replace(BENCHMARK_TRAINING, max_epochs=max_epochs, seed=seed, threads=threads, device=device),
        log=log,
    )


def known_items_only(sessions: ClickSessions, known: np.ndarray, min_length: int = 2) -> ClickSessions:
    """`sessions` without clicks on items where `known` is False, then without sessions shorter than
    `min_length`: the rule clicks.to_sessions applies to a test file, on sessions already encoded."""
    keep = known[sessions.items]
    session_of_click = np.repeat(np.arange(sessions.n_sessions), sessions.lengths)
    lengths = np.bincount(session_of_click[keep], minlength=sessions.n_sessions)
    kept_sessions = np.flatnonzero(lengths >= min_length)
    clicks = keep & np.isin(session_of_click, kept_sessions)
    kept_lengths = lengths[kept_sessions]
    return ClickSessions(
        items=sessions.items[clicks],
        times=sessions.times[clicks],
        offsets=np.concatenate([[0], np.cumsum(kept_lengths)]).astype(np.int64),
        session_end=sessions.session_end[kept_sessions],
    )


def validation_split(train: ClickSessions, n_items: int, fraction: float = VALIDATION_FRACTION) -> tuple[ClickSessions, ClickSessions]:
    """The earlier sessions by end time, and the latest `fraction` treated as a test file would be."""
    fit_rows, held_out_rows = split_by_time(train.session_end, fraction)
    earlier = train.subset(fit_rows)
    known = np.zeros(n_items + 1, dtype=bool)
    known[earlier.items] = True
    held_out = known_items_only(train.subset(held_out_rows), known)
    if held_out.n_sessions == 0:
        raise ValueError(
            f"no session among the latest {fraction:.0%} of the training file has two clicks on items seen before it: "
            "too few training sessions to choose the encoder's settings"
        )
    return earlier, held_out


def row_normalised(scores: np.ndarray) -> np.ndarray:
    """Scores as a distribution over items per row (column 0, padding, zero).

    Every model here scores items non-negatively (kNN votes plus popularity, probabilities), and
    dividing a row by a positive sum keeps its order: a blend weight of 0 or 1 ranks exactly as
    the component alone does. Float64: the baselines' popularity tie-break sits 1e-9 below their
    votes, under float32's resolution."""
    scores = np.array(scores, dtype=np.float64)
    scores[:, 0] = 0.0
    totals = scores.sum(axis=1, keepdims=True)
    return scores / np.where(totals > 0, totals, 1.0)


def component_scores(model: NextItemModel, sessions: ClickSessions, prefixes: Prefixes, batch_size: int = 1024) -> np.ndarray:
    """`model`'s row-normalised scores of every prefix (an encoder's log-probabilities exponentiated first)."""
    rows = []
    for start in range(0, len(prefixes), batch_size):
        part = Prefixes(*(values[start : start + batch_size] for values in (prefixes.starts, prefixes.ends, prefixes.targets)))
        scores = model.score(sessions, part)
        rows.append(row_normalised(np.exp(scores) if isinstance(model, EncoderNextItem) else scores))
    return np.concatenate(rows)


def blend_grid(knn_names: tuple[str, ...], step: float = BLEND_STEP) -> list[dict[str, float]]:
    """Weights {encoder, one kNN, in-session popularity} summing to 1 on a grid of `step`, per kNN variant."""
    parts = round(1 / step)
    grid = []
    for knn in knn_names:
        for a in range(parts, -1, -1):
            for b in range(parts - a, -1, -1):
                grid.append({"encoder": a / parts, knn: b / parts, REPEAT_PARTNER: (parts - a - b) / parts})
    return grid


def blend(scores: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """The weighted sum of row-normalised score matrices; one component at weight 1 is returned as it is."""
    used = {name: weight for name, weight in weights.items() if weight > 0}
    if len(used) == 1:
        return scores[next(iter(used))]
    return sum(weight * scores[name] for name, weight in used.items())


def worst_ratio(metrics: dict[str, float], best_baseline: dict[str, float]) -> float:
    """min over the metrics of metric / best baseline's (above 1: better than every baseline on both)."""
    return min(metrics[m] / best_baseline[m] if best_baseline[m] > 0 else float("inf") for m in METRICS)


@dataclass
class BlendedNextItem(NextItemModel):
    """A weighted sum of fitted models' row-normalised scores (weights by model name)."""

    components: dict[str, NextItemModel]
    weights: dict[str, float]
    name: str = field(default="validated_choice")

    def fit(self, train: ClickSessions, n_items: int) -> BlendedNextItem:  # noqa: ARG002 - NextItemModel.fit's signature
        return self  # the components are fitted (and evaluated) as models of their own

    def score(self, test: ClickSessions, prefixes: Prefixes) -> np.ndarray:
        used = [name for name, weight in self.weights.items() if weight > 0]
        return blend({name: component_scores(self.components[name], test, prefixes) for name in used}, self.weights)


def choose_next_item_model(
    train: ClickSessions,
    n_items: int,
    *,
    seed: int = 7,
    threads: int = 1,
    device: str = "cpu",
    candidates: tuple[EncoderCandidate, ...] = ENCODER_CANDIDATES,
    step: float = BLEND_STEP,
    max_epochs: int = MAX_EPOCHS,
    log: Callable[[str], None] = print,
) -> dict:
    """The choice report (JSON-ready): split, baselines, every candidate's figures, the choice.

    Takes the training sessions and nothing else: no test file can reach the choice.
    """
    if not candidates:
        raise ValueError("no encoder candidate to choose among")
    started = time.perf_counter()
    earlier, held_out = validation_split(train, n_items)
    prefixes = all_prefixes(held_out)
    most = min(MAX_VALIDATION_PREDICTIONS, max(1, MAX_VALIDATION_SCORES // (n_items + 1)))
    if len(prefixes) > most:
        keep = np.sort(np.random.default_rng(seed).choice(len(prefixes), most, replace=False))
        prefixes = Prefixes(prefixes.starts[keep], prefixes.ends[keep], prefixes.targets[keep])
    log(
        f"choosing on a time split of the training file: {earlier.n_sessions:,} earlier sessions, "
        f"{held_out.n_sessions:,} latest ({len(prefixes):,} predictions)"
    )
    baselines, partner_scores = {}, {}
    for model in baseline_models():
        model.fit(earlier, n_items)
        scores = component_scores(model, held_out, prefixes)
        baselines[model.name] = recall_mrr(target_ranks(scores, prefixes.targets), CUTOFF)
        if isinstance(model, SessionKNN) or model.name == REPEAT_PARTNER:
            partner_scores[model.name] = scores
    grid = blend_grid(tuple(name for name in partner_scores if name != REPEAT_PARTNER), step)
    best_baseline = {m: max(result[m] for result in baselines.values()) for m in METRICS}

    report_candidates, best = [], None
    for candidate in candidates:
        tick = time.perf_counter()
        encoder = candidate_encoder(candidate, seed=seed, threads=threads, device=device, max_epochs=max_epochs, log=log)
        encoder.fit(earlier, n_items, validation=held_out)
        scores = {**partner_scores, "encoder": component_scores(encoder, held_out, prefixes)}
        blends = []
        for weights in grid:
            metrics = recall_mrr(target_ranks(blend(scores, weights), prefixes.targets), CUTOFF)
            row = {"weights": weights, **metrics, "worst_ratio_to_best_baseline": worst_ratio(metrics, best_baseline)}
            blends.append(row)
            if best is None or row["worst_ratio_to_best_baseline"] > best[1]["worst_ratio_to_best_baseline"]:
                best = (candidate, row, encoder.result.best_epoch)
        del scores["encoder"]
        report_candidates.append(
            {
                **asdict(candidate),
                "best_epoch": encoder.result.best_epoch,
                "epochs_run": encoder.result.epochs_run,
                "best_validation_loss": encoder.result.best_validation_loss,
                "fit_seconds": round(time.perf_counter() - tick, 1),
                "blends": blends,
            }
        )
        alone = next(b for b in blends if b["weights"]["encoder"] == 1.0)
        log(
            f"candidate {candidate.name}: best epoch {encoder.result.best_epoch}; alone recall@{CUTOFF} {alone[METRICS[0]]:.4f} "
            f"mrr@{CUTOFF} {alone[METRICS[1]]:.4f}; best blend {max(b['worst_ratio_to_best_baseline'] for b in blends):.4f} x best baseline"
        )
    candidate, row, epochs = best
    weights = {name: weight for name, weight in row["weights"].items() if weight > 0}
    chosen = {"encoder": asdict(candidate), "epochs": max(epochs, 1), "weights": weights}
    mix = " + ".join(f"{weight:g} x {name}" for name, weight in weights.items())
    why = (
        f"{mix} (encoder: {candidate.name}, {chosen['epochs']} epochs): on the held-out sessions recall@{CUTOFF} "
        f"{row[METRICS[0]]:.4f} and mrr@{CUTOFF} {row[METRICS[1]]:.4f} against the best baseline's "
        f"{best_baseline[METRICS[0]]:.4f} and {best_baseline[METRICS[1]]:.4f}: the highest worst ratio "
        f"({row['worst_ratio_to_best_baseline']:.4f}) of {len(candidates) * len(grid)} blends"
    )
    log(f"chosen: {why}")
    return {
        "split": {
            "rule": f"training sessions by end time: the latest {VALIDATION_FRACTION:.0%} held out; clicks on items absent "
            "from the earlier part dropped, then held-out sessions under two clicks",
            "earlier_sessions": int(earlier.n_sessions),
            "held_out_sessions": int(held_out.n_sessions),
            "predictions": int(len(prefixes)),
        },
        "criterion": f"the highest min over {' and '.join(METRICS)} of blend / best baseline on the held-out sessions",
        "baselines": baselines,
        "best_baseline": best_baseline,
        "candidates": report_candidates,
        "chosen": chosen,
        "why": why,
        "seconds": round(time.perf_counter() - started, 1),
    }


def validated_models(
    train: ClickSessions, n_items: int, *, seed: int, threads: int, device: str, log: Callable[[str], None] = print
) -> tuple[list[NextItemModel], dict]:
    """The benchmark's models (unfitted; fit them in order) and the choice report behind them:
    the baselines, the chosen encoder for the chosen epochs on the whole training file
    (`encoder`), and the chosen blend of them (`validated_choice`)."""
    choice = choose_next_item_model(train, n_items, seed=seed, threads=threads, device=device, log=log)
    chosen = choice["chosen"]
    baselines = baseline_models()
    encoder = candidate_encoder(
        EncoderCandidate(**chosen["encoder"]), seed=seed, threads=threads, device=device, max_epochs=chosen["epochs"], log=log
    )
    components = {model.name: model for model in [*baselines, encoder]}
    blended = BlendedNextItem({name: components[name] for name in chosen["weights"]}, chosen["weights"])
    return [*baselines, encoder, blended], choice
