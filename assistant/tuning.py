"""Every tuned number, loaded from one TOML file (``assistant/resources/tuning.toml`` by default).

The retriever and the answerer read their weights, bonuses and thresholds from a :class:`Tuning`;
evaluation reports record its name and hash, so a figure can always be traced to the numbers that
produced it, and ``assistant eval --calibrate --write-tuning FILE`` writes a calibrated copy.

Example:
    >>> t = Tuning.load()
    >>> t.weights["zh"]["dense"], t.bm25_k1
    (1.0, 1.5)
    >>> len(t.digest)
    12
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from assistant.errors import ConfigError

BUNDLED = "tuning.toml"


@dataclass(frozen=True)
class Tuning:
    """The tuned numbers (see the comments in ``tuning.toml`` for what each does)."""

    weights: dict[str, dict[str, float]]
    candidate_depth: int = 200
    reference_bonus: dict[str, float] = field(
        default_factory=lambda: {"clause": 10.0, "subpoint": 10.0, "section": 5.0}
    )
    heading_word_bonus: float = 2.0
    reference_weight: float = 2.5
    scope_bonus: float = 0.5
    title_bonus: float = 1.0
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    hnsw_threshold: int = 50000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128
    merge_floor_rows: int = 2000
    merge_segments_per_tier: int = 4
    reuse_rows_per_match: int = 5000
    min_similarity: dict[str, float] = field(default_factory=lambda: {"zh": 0.848, "en": 0.795})
    cite_share: float = 0.6
    max_clauses: int = 3
    max_sentences: int = 2
    answerability: dict[str, Any] = field(default_factory=dict)
    rerank_depth: int = 20
    rerank_first_stage_weight: float = 0.0
    rerank_max_length: int = 128
    name: str = BUNDLED

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Tuning:
        """The bundled tuning, or the file at ``path``.

        Raises:
            ConfigError: The file is missing, not TOML, or lacks a value.
        """
        try:
            if path is None:
                text = resources.files("assistant").joinpath("resources", BUNDLED).read_text(encoding="utf-8")
                name = BUNDLED
            else:
                text, name = Path(path).read_text(encoding="utf-8"), str(path)
            data = tomllib.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"tuning file {path or BUNDLED}: {exc}") from exc
        return cls.from_toml(data, name)

    @classmethod
    def from_toml(cls, data: dict[str, Any], name: str = BUNDLED) -> Tuning:
        try:
            fusion, bm25, dense, answer = data["fusion"], data["bm25"], data["dense"], data["answer"]
            return cls(
                weights={lang: {k: float(v) for k, v in w.items()} for lang, w in fusion["weights"].items()},
                candidate_depth=int(fusion["candidate_depth"]),
                reference_bonus={k: float(v) for k, v in fusion["reference_bonus"].items()},
                heading_word_bonus=float(fusion["heading_word_bonus"]),
                reference_weight=float(fusion["reference_weight"]),
                scope_bonus=float(fusion["scope_bonus"]),
                title_bonus=float(fusion.get("title_bonus", fusion["scope_bonus"])),
                bm25_k1=float(bm25["k1"]),
                bm25_b=float(bm25["b"]),
                hnsw_threshold=int(dense["hnsw_threshold"]),
                hnsw_m=int(dense["hnsw_m"]),
                hnsw_ef_construction=int(dense["hnsw_ef_construction"]),
                hnsw_ef_search=int(dense["hnsw_ef_search"]),
                merge_floor_rows=int(data.get("merge", {}).get("floor_rows", 2000)),
                merge_segments_per_tier=int(data.get("merge", {}).get("segments_per_tier", 4)),
                reuse_rows_per_match=int(dense.get("reuse_rows_per_match", 5000)),
                min_similarity={"zh": float(answer["min_similarity_zh"]), "en": float(answer["min_similarity_en"])},
                cite_share=float(answer["cite_share"]),
                max_clauses=int(answer["max_clauses"]),
                max_sentences=int(answer["max_sentences"]),
                answerability=dict(answer.get("answerability", {})),
                rerank_depth=int(data.get("rerank", {}).get("depth", 20)),
                rerank_first_stage_weight=float(data.get("rerank", {}).get("first_stage_weight", 0.0)),
                rerank_max_length=int(data.get("rerank", {}).get("max_length", 128)),
                name=name,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"tuning file {name}: missing or invalid value ({exc})") from exc

    def replace(self, **changes: Any) -> Tuning:
        return dataclasses.replace(self, **changes)

    def to_toml(self) -> str:
        """The TOML text of these numbers (what ``--write-tuning`` writes)."""
        lines = ["[fusion]", f"candidate_depth = {self.candidate_depth}"]
        lines.append("reference_bonus = { " + ", ".join(f"{k} = {v}" for k, v in self.reference_bonus.items()) + " }")
        lines += [
            f"heading_word_bonus = {self.heading_word_bonus}",
            f"reference_weight = {self.reference_weight}",
            f"scope_bonus = {self.scope_bonus}",
            f"title_bonus = {self.title_bonus}",
        ]
        for lang, w in self.weights.items():
            lines += ["", f"[fusion.weights.{lang}]", *(f"{k} = {v}" for k, v in w.items())]
        lines += ["", "[rerank]", f"depth = {self.rerank_depth}"]
        lines += [f"first_stage_weight = {self.rerank_first_stage_weight}", f"max_length = {self.rerank_max_length}"]
        lines += ["", "[bm25]", f"k1 = {self.bm25_k1}", f"b = {self.bm25_b}", "", "[dense]"]
        lines += [
            f"hnsw_threshold = {self.hnsw_threshold}",
            f"hnsw_m = {self.hnsw_m}",
            f"hnsw_ef_construction = {self.hnsw_ef_construction}",
            f"hnsw_ef_search = {self.hnsw_ef_search}",
            f"reuse_rows_per_match = {self.reuse_rows_per_match}",
            "",
            "[merge]",
            f"floor_rows = {self.merge_floor_rows}",
            f"segments_per_tier = {self.merge_segments_per_tier}",
            "",
            "[answer]",
            f"min_similarity_zh = {self.min_similarity['zh']}",
            f"min_similarity_en = {self.min_similarity['en']}",
            f"cite_share = {self.cite_share}",
            f"max_clauses = {self.max_clauses}",
            f"max_sentences = {self.max_sentences}",
        ]
        if self.answerability:
            lines += ["", "[answer.answerability]"]
            lines += [f"{k} = {_inline(v)}" for k, v in self.answerability.items()]
        return "\n".join(lines) + "\n"

    def values(self) -> dict[str, Any]:
        """Every number by name (what reports record)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "name"}

    @property
    def digest(self) -> str:
        """A short hash of the numbers: equal digests mean equal tuning."""
        return hashlib.sha256(json.dumps(self.values(), sort_keys=True).encode()).hexdigest()[:12]


def _inline(value: Any) -> str:
    """A TOML value: tables inline (``{ a = 1, b = { c = 2 } }``), numbers and strings as they are."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_inline(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)
