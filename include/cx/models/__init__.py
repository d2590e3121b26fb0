"""Model stages: segmentation, sentiment, recommendations and forecasting."""
