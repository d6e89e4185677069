"""A stand-in embedder for tests: words become one-hot dimensions (as sentence-transformers' own
tests do with a mock model), so the code around embeddings is tested in milliseconds.

Each Chinese character bigram or English stem hashes to one of ``dim`` dimensions; a text's vector
is the normalised count of its features. Texts sharing words are similar; nothing else is.

Example:
    >>> emb = KeywordEmbedder()
    >>> a, b, c = emb.embed_passages(["黄河流域生态保护", "支持黄河流域", "Basel III leverage"])
    >>> bool(a @ b > a @ c)
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from assistant.text.tokens import bigrams, english_words


class KeywordEmbedder:
    """Hashed bag-of-features vectors; ``model_id`` ``stub/keywords``."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.model_id = f"stub/keywords-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for feature in [*bigrams(text), *english_words(text)]:
            v[int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=4).digest(), "little") % self.dim] += 1
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_passages(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        return self.embed_queries(texts)


class KeywordPairScorer:
    """A stand-in reranker: the logit is the share of the question's features the passage has,
    scaled to [-4, 4] (``model_id`` ``stub/pairs``).

    Example:
        >>> s = KeywordPairScorer().score("黄河生态", ["黄河流域生态保护", "存款利率"])
        >>> bool(s[0] > s[1])
        True
    """

    model_id = "stub/pairs"

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        wanted = set(bigrams(query)) | set(english_words(query))
        out = []
        for p in passages:
            have = set(bigrams(p)) | set(english_words(p))
            out.append(8.0 * len(wanted & have) / max(1, len(wanted)) - 4.0)
        return np.asarray(out, dtype=np.float32)
