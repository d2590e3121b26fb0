"""Behavioural customer segmentation: KMeans on RFM, web, price and sentiment features.

The pure core :func:`segment_customers` (``_core``) turns ``marts.customer_features`` (plus the
run's per-customer sentiment and order activity from ``marts.fct_orders``) into named
segments whose ids stay stable from day to day; :func:`run` (``_stage``) wires it to
the warehouse. ``_config`` holds the features and :class:`SegmentationConfig`,
``_features`` the design matrices, ``_clustering`` KMeans and the choice of k,
``_naming`` the names and the identity across days.

Design choices a reviewer will ask about:

- **Two populations.** Recency, spend, basket size or price point do not exist for a
  customer who never ordered: imputing them (recency = tenure, spend = 0) creates one
  artificial axis that dominates the distances and the silhouette, and the real
  differences among buyers (a lapsed regular vs. an active one) drown. Buyers are
  therefore clustered on purchase behaviour, and customers without orders in the
  warehouse's history on what they do have (tenure, web engagement, sentiment).
- **Units.** Money, counts and tenure are log1p-transformed (heavy right tails).
  Recency is not: it is bounded by the order history, and a log would blow up the
  noise among the last few days (0 vs. 3 days) while squeezing the signal (10 vs. 70).
  Every feature is then centred on its median and divided by a robust spread (IQR, or
  the 5-95% range when most values tie, e.g. return rates), and clipped, so a handful
  of whales cannot own a cluster.
- **Number of segments.** No single internal index is reliable: silhouette prefers few
  well-separated groups, Calinski-Harabasz and Davies-Bouldin weigh compactness
  differently. k is the one with the best mean rank over the three (silhouette on a
  fixed-seed sample when customers are many), a consensus in the spirit of NbClust.
  Customers without orders are split only when the best split (by silhouette) shows
  reasonable structure (silhouette >= 0.5, Kaufman & Rousseeuw), otherwise they stay one
  segment.
- **Names** come from each segment's members' mean percentile ranks within the
  population it was clustered in (an RFM-style score), with guards: a segment whose
  recency is much worse than most buyers' is "at risk" or "hibernating", never "big
  spenders"; "bargain hunters" needs a low price point, not just a low spend; otherwise
  the most pronounced trait names the segment.
- **Identity.** Today's clusters are matched to yesterday's segments by customer
  overlap (Hungarian); a matched cluster keeps its id, and its name unless its
  behaviour no longer fits it. Segments drawn by another model version are not
  inherited (their names would carry that model's mistakes forward).
"""

from __future__ import annotations

from cx.models.segmentation._config import FEATURES, MODEL, SegmentationConfig, SegmentationResult
from cx.models.segmentation._core import segment_customers
from cx.models.segmentation._features import order_activity
from cx.models.segmentation._stage import run

__all__ = [
    "FEATURES",
    "MODEL",
    "SegmentationConfig",
    "SegmentationResult",
    "order_activity",
    "run",
    "segment_customers",
]
