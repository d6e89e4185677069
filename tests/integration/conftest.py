"""The integration tier: the real bundled embedding model (fixtures from :mod:`tests.real_model`)."""

from __future__ import annotations

from tests.real_model import built_index, cache_dir, cli_env, embedder, retriever, settings

__all__ = ["built_index", "cache_dir", "cli_env", "embedder", "retriever", "settings"]
