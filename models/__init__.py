"""Speech models listenin can run, found in installed packages or local folders."""

from .registry import MODELS, ModelError, ModelInfo, available, resolve

__all__ = ["MODELS", "ModelError", "ModelInfo", "available", "resolve"]
