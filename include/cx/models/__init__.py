"""Model stages: segmentation, sentiment, recommendations and forecasting.

Each is a package (private ``_module`` files behind its ``__init__``) whose ``run(as_of)``
runs on one skeleton, :func:`cx.models._stage.run_stage`."""
