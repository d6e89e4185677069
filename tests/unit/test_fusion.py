"""Fusion (pure functions over candidate arrays) and the channel registry, on the stand-in index."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.retrieval import SearchOptions
from assistant.retrieval.channels import CHANNELS, ChannelInput, query_texts
from assistant.retrieval.fusion import add_bonus, align, channel_weights, fuse, standardise, union
from assistant.types import Candidates
from tests.conftest import YELLOW_RIVER


def cands(name: str, keys: list[int], scores: list[float], floor: float | None = None) -> Candidates:
    return Candidates(name, np.asarray(keys, dtype=np.int64), np.asarray(scores, dtype=np.float64), floor)


# -- fusion -----------------------------------------------------------------------------------------


def test_union_is_sorted_and_unique_with_extra_keys() -> None:
    keys = union([cands("a", [5, 1], [1, 0]), cands("b", [1, 9], [2, 1])], extra=np.array([7, 5]))
    assert keys.tolist() == [1, 5, 7, 9]
    assert union([]).tolist() == [] and union([Candidates.empty("dense")]).tolist() == []


def test_align_gives_the_floor_to_keys_a_channel_did_not_return() -> None:
    keys = np.array([1, 2, 3, 4])
    bm25 = cands("bm25", [3, 1], [7.0, 2.0], floor=0.0)
    assert align(bm25, keys).tolist() == [2.0, 0.0, 7.0, 0.0]
    dense = cands("dense", [2, 4], [0.9, 0.5])  # no floor: the lowest score returned
    assert align(dense, keys).tolist() == [0.5, 0.9, 0.5, 0.5]
    assert align(Candidates.empty("dense"), keys).tolist() == [0.0] * 4


def test_standardise() -> None:
    z = standardise(np.array([1.0, 2.0, 3.0]))
    assert z.mean() == pytest.approx(0.0) and z.std() == pytest.approx(1.0) and z[2] > z[1] > z[0]
    assert standardise(np.array([4.0, 4.0])).tolist() == [0.0, 0.0]  # no spread, no signal
    assert standardise(np.zeros(0)).tolist() == []


def test_fuse_is_a_weighted_sum_of_z_scores() -> None:
    dense = cands("dense", [1, 2, 3], [0.9, 0.5, 0.4])
    bm25 = cands("bm25", [3], [7.0], floor=0.0)
    keys = union([dense, bm25])
    fused, parts = fuse({"dense": dense, "bm25": bm25}, keys, {"dense": 1.0, "bm25": 1.0})
    assert set(parts) == {"dense", "bm25"}
    assert fused == pytest.approx(parts["dense"] + parts["bm25"])
    # The clear BM25 winner keeps its confidence: with BM25 weighted more, key 3 wins.
    heavy, _ = fuse({"dense": dense, "bm25": bm25}, keys, {"dense": 1.0, "bm25": 2.0})
    assert keys[np.argmax(heavy)] == 3
    # A channel without a weight does not count.
    only_dense, _ = fuse({"dense": dense, "bm25": bm25}, keys, {"dense": 1.0})
    assert only_dense == pytest.approx(parts["dense"])


def test_channel_weights_by_language_and_mode() -> None:
    configured = {"zh": {"dense": 1.0, "bm25": 1.0, "bm25_c": 0.5}, "en": {"dense": 1.0, "bm25_g": 1.0}}
    names = ["dense", "bm25", "bm25_c"]
    assert channel_weights("zh", names, configured, mode="hybrid", by_language=True) == {
        "dense": 1.0,
        "bm25": 1.0,
        "bm25_c": 0.5,
    }
    assert channel_weights("en", names, configured, mode="hybrid", by_language=True) == {
        "dense": 1.0,
        "bm25": 0.0,
        "bm25_c": 0.0,
    }
    assert channel_weights("zh", names, configured, mode="bm25", by_language=True) == dict.fromkeys(names, 1.0)
    assert channel_weights("zh", names, configured, mode="hybrid", by_language=False) == dict.fromkeys(names, 1.0)


def test_add_bonus_only_to_keys_in_the_union() -> None:
    keys = np.array([2, 4, 6])
    fused = np.zeros(3)
    add_bonus(fused, keys, np.array([4, 5, 6]), np.array([1.0, 9.0, 2.0]))
    assert fused.tolist() == [0.0, 1.0, 2.0]
    add_bonus(fused, keys, np.array([2]), 0.5)
    add_bonus(fused, keys, np.zeros(0, dtype=np.int64), 3.0)
    assert fused.tolist() == [0.5, 1.0, 2.0]


# -- channels ---------------------------------------------------------------------------------------


def test_the_registry_says_which_channels_run() -> None:
    assert set(CHANNELS) == {"dense", "dense_x", "bm25", "bm25_x", "bm25_c", "bm25_g"}

    def running(q, o):
        return {name for name, c in CHANNELS.items() if c.applies(q, o)}

    from assistant.retrieval.query import parse_query
    from assistant.text.scope import Scope
    from assistant.text.termbase import Termbase

    tb, no_places = Termbase.from_rows([("绿色金融", "green finance", "green")]), Scope({})
    zh, en, en_plain = (parse_query(q, tb, no_places) for q in ("绿色金融", "green finance", "hello there"))
    assert (zh.language, en.language, en.zh_terms, en_plain.zh_terms) == ("zh", "en", ["绿色金融"], [])
    assert running(zh, SearchOptions()) == {"dense", "bm25", "bm25_c"}
    assert running(zh, SearchOptions(bigrams=False)) == {"dense", "bm25"}
    assert running(en, SearchOptions()) == {"dense", "dense_x", "bm25", "bm25_x", "bm25_g"}
    assert running(en_plain, SearchOptions(glosses=False)) == {"dense", "bm25"}
    assert running(en, SearchOptions(mode="dense")) == {"dense", "dense_x"}
    assert running(en, SearchOptions(mode="bm25")) == {"bm25", "bm25_x", "bm25_g"}
    assert query_texts(en, SearchOptions()) == {"question": "green finance", "terms": "绿色金融"}
    assert query_texts(zh, SearchOptions(mode="bm25")) == {}


def _run(retriever, name: str, question: str, **options) -> Candidates:
    opts = SearchOptions(**options)
    q = retriever.parse_query(question, opts)
    texts = query_texts(q, opts)
    vectors = dict(zip(texts, retriever.query_vectors(list(texts.values())), strict=True)) if texts else {}
    inp = ChannelInput(q, opts, vectors, retriever.store, 20, None)
    return CHANNELS[name].run(inp)


def _clause_ids(retriever, c: Candidates) -> list[str]:
    return [r.clause_id for r in retriever.index.records(c.keys)]


def test_channels_return_their_own_candidates_best_first(stub_retriever) -> None:
    for name in ("dense", "bm25", "bm25_c"):
        found = _run(stub_retriever, name, "哪些措施支持黄河流域的生态保护？")
        assert found.channel == name and len(found) and _clause_ids(stub_retriever, found)[0] == YELLOW_RIVER
        assert (np.diff(found.scores) <= 1e-9).all()  # best first
        assert len(set(found.keys.tolist())) == len(found)  # one candidate per chunk
    assert _run(stub_retriever, "bm25", "黄河流域").floor == 0.0  # a chunk BM25 did not return shares no term
    assert _run(stub_retriever, "dense", "黄河流域").floor is None


def test_english_channels(stub_retriever) -> None:
    question = "Which measures support Yellow River ecology?"
    # Translations are searched only on request; then BM25 finds the clause by its English rendering.
    assert len(_run(stub_retriever, "bm25", question)) == 0  # English words, Chinese text
    found = _run(stub_retriever, "bm25", question, translations=True)
    assert _clause_ids(stub_retriever, found)[0] == YELLOW_RIVER
    x = _run(stub_retriever, "bm25_x", question)  # the termbase's Chinese terms, over the Chinese text
    assert YELLOW_RIVER in _clause_ids(stub_retriever, x)[:3]
    g = _run(stub_retriever, "bm25_g", question)  # the chunks' English glosses
    assert YELLOW_RIVER in _clause_ids(stub_retriever, g)[:3]
    # With translations searched, the gloss channel leaves out the chunks that have one (every chunk
    # of this corpus): their English is matched directly.
    assert len(_run(stub_retriever, "bm25_g", question, translations=True)) == 0


def test_a_question_with_only_stop_words_finds_nothing_by_keyword(stub_retriever) -> None:
    assert len(_run(stub_retriever, "bm25", "what is the")) == 0
