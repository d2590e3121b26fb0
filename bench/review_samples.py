"""Draw the real review samples in tests/data/reviews from their source files (run once by
hand; the tests and bench read the samples, never the network). See that folder's README.

    python bench/review_samples.py WOMENS_CSV OLIST_REVIEWS_CSV B2W_CSV TRIPADVISOR_CSV
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "reviews"
SEED = 42
# Reviews kept of the larger corpora: enough for 180-230 three-star reviews in the held-back
# half (the class that limits macro-F1), few enough to keep the repository small.
KEEP = {"womens_clothing_en": 4_000, "b2w_pt": 3_000}


def tidy(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Whitespace collapsed, rows with neither title nor body or a rating outside 1-5
    dropped, rows in a seeded random order with new ids (the source ids are dropped)."""
    frame = frame.copy()
    for col in ("title", "body"):
        frame[col] = frame[col].astype("string").str.replace(r"\s+", " ", regex=True).str.strip().replace("", pd.NA)
    frame = frame.loc[(frame["title"].notna() | frame["body"].notna()) & frame["rating"].between(1, 5)]
    frame = frame.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    frame.insert(0, "review_id", [f"{lang}-{i:05d}" for i in range(len(frame))])
    frame["language"] = lang
    frame["rating"] = frame["rating"].astype(int)
    return frame


def main(womens_csv: str, olist_csv: str, b2w_csv: str, tripadvisor_csv: str) -> None:
    womens = pd.read_csv(womens_csv).rename(columns={"Review Text": "ReviewText"})
    olist = pd.read_csv(olist_csv)
    b2w = pd.read_csv(b2w_csv)
    hotels = pd.read_csv(tripadvisor_csv)
    samples = {
        "womens_clothing_en": tidy(
            pd.DataFrame({"title": womens["Title"], "body": womens["ReviewText"], "rating": womens["Rating"]}), "en"
        ),
        "olist_pt": tidy(
            pd.DataFrame(
                {
                    "title": olist["review_comment_title"],
                    "body": olist["review_comment_message"],
                    "rating": olist["review_score"],
                }
            ),
            "pt",
        ),
        "b2w_pt": tidy(
            pd.DataFrame({"title": b2w["review_title"], "body": b2w["review_text"], "rating": b2w["overall_rating"]}),
            "pt",
        ),
        "tripadvisor_en": tidy(
            pd.DataFrame({"title": pd.NA, "body": hotels["Review"], "rating": hotels["Rating"]}), "en"
        ),
    }
    for name, frame in samples.items():
        frame = frame.iloc[: KEEP.get(name, len(frame))]
        frame.to_csv(OUT / f"{name}.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
        print(name, len(frame), frame["rating"].value_counts().sort_index().to_dict())


if __name__ == "__main__":
    main(*sys.argv[1:5])
