"""Shared data, models, training loops and measurements for every workload (pure PyTorch; no ray/mlflow)."""
