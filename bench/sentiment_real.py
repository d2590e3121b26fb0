"""Sentiment on real reviews: train as the pipeline trains (on the rated reviews), score the
held-back half with hidden ratings, print macro-F1, AUC (positive vs negative) and F1 per
class, for the model and the lexicon baseline.

    .venv/bin/python bench/sentiment_real.py [REVIEWS.csv[.gz] ...]

Without arguments: the samples in tests/data/reviews. Any other file with the columns
review_id, title, body, rating (1-5), language works the same (e.g. a full corpus kept
outside the repository).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from cx.models.sentiment import LABELS, SentimentConfig
from cx.models.sentiment.holdout import holdout_report

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "reviews"
TARGET = {"macro_f1": 0.68, "roc_auc": 0.94}  # issue 23


def line(name: str, m: dict) -> str:
    per_class = " ".join(f"{lab[:3]} {m[f'f1_{lab}']:.3f}" for lab in LABELS)
    return f"  {name:<8} macro-F1 {m['macro_f1']:.3f}  AUC {m['roc_auc']:.3f}  F1 {per_class}"


def main(paths: list[str]) -> None:
    files = [Path(p) for p in paths] or sorted(SAMPLES.glob("*.csv.gz"))
    cfg = SentimentConfig()
    print(f"model {cfg.model_version}; held-back half of the rated reviews (seed {cfg.seed}); "
          f"target macro-F1 >= {TARGET['macro_f1']}, AUC >= {TARGET['roc_auc']}")
    for path in files:
        reviews = pd.read_csv(path, dtype={"review_id": "string", "title": "string", "body": "string",
                                           "language": "string"})
        start = time.process_time()
        report = holdout_report(reviews, cfg)
        cpu = time.process_time() - start
        met = all(report["model"][k] >= v for k, v in TARGET.items())
        print(f"{path.name}: {len(reviews)} reviews, trained on {report['trained_on']}, scored "
              f"{report['held_back']} held back; published {report['model_version']}"
              f"{' (fallback: ' + report['fallback'] + ')' if report['fallback'] else ''}; {cpu:.1f} CPU s; "
              f"target {'met' if met else 'NOT met'}")
        print(line("model", report["model"]))
        print(line("lexicon", report["lexicon"]))


if __name__ == "__main__":
    main(sys.argv[1:])
