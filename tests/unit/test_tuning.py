"""The tuning file: every tuned number in one place, round-tripped, hashed, and used when configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.retrieval import Retriever
from assistant.tuning import BUNDLED, Tuning


def test_the_bundled_tuning_loads() -> None:
    t = Tuning.load()
    assert t.name == BUNDLED and t.weights["zh"]["dense"] == 1.0 and set(t.weights) == {"zh", "en"}
    assert -1 <= t.min_similarity["zh"] < 1 and -1 <= t.min_similarity["en"] < 1
    first = {"similarity", "coverage", "clause_coverage", "margin"}
    models = t.answerability
    assert {lang: set(models[lang]["weights"]) for lang in ("zh", "en")} == {"zh": first, "en": first}
    assert {lang: set(m["weights"]) for lang, m in models["rerank"].items()} == {
        "zh": {"rerank", *first},
        "en": {"rerank", *first},
    }
    assert (t.max_clauses, t.max_sentences, t.cite_share) == (3, 2, 0.6)
    assert len(t.digest) == 12 and t.digest == Tuning.load().digest


def test_to_toml_round_trips(tmp_path: Path) -> None:
    model = {"zh": {"weights": {"similarity": 41.1, "margin": 0.18}, "bias": -33.6, "threshold": 0.59}}
    t = Tuning.load().replace(min_similarity={"zh": 0.5, "en": 0.4}, candidate_depth=50, answerability=model)
    path = tmp_path / "mine.toml"
    path.write_text(t.to_toml(), encoding="utf-8")
    again = Tuning.load(path)
    assert again.values() == t.values() and again.digest == t.digest and again.name == str(path)
    assert again.digest != Tuning.load().digest  # other numbers, another hash


def test_bad_tuning_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        Tuning.load(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[fusion\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        Tuning.load(tmp_path / "bad.toml")
    (tmp_path / "short.toml").write_text("[fusion]\ncandidate_depth = 10\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"short\.toml: missing or invalid value"):
        Tuning.load(tmp_path / "short.toml")


def test_the_configured_tuning_file_is_used(stub_settings, keyword_embedder, tmp_path: Path) -> None:
    path = tmp_path / "strict.toml"
    strict = Tuning.load().replace(min_similarity={"zh": 0.99, "en": 0.99}, answerability={})
    path.write_text(strict.to_toml(), encoding="utf-8")
    r = Retriever.load(settings=stub_settings.replace(tuning=path), embedder=keyword_embedder)
    assert r.tuning.name == str(path) and r.tuning.min_similarity == {"zh": 0.99, "en": 0.99}
    from assistant.answering import Answerer

    assert not Answerer(r, stub_settings).answer("哪些措施支持黄河流域的生态保护？").found


def test_tuning_moves_add_up_within_a_round() -> None:
    from assistant.evaluation.tune import _moves

    start = Tuning.load()
    moves = dict(_moves(start))
    best = moves["zh.bm25=0.0"](start)
    best = moves["en.dense=1.5"](best)  # accepted later in the same round: the first change stays
    assert best.weights["zh"]["bm25"] == 0.0 and best.weights["en"]["dense"] == 1.5
    assert moves["title_bonus=2.0"](best).title_bonus == 2.0
