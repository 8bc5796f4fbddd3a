"""Ray Tune + MLflow orchestrator. Importing this package does not import ray or mlflow."""
from orchestrator.context import Context, LocalContext
from orchestrator.registry import ConfigError, register

__all__ = ["Context", "LocalContext", "ConfigError", "register"]
