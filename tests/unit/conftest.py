"""The unit tier: no real model. Indexes are built with the stand-in
:class:`~assistant.embedding.stub.KeywordEmbedder` (hashed word features) in temporary folders, in
milliseconds; loading a real embedding model fails the test."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CORPUS, EVAL

#: The model id of the stand-in embedder (what its indexes record).
STUB_MODEL = "stub/keywords-256"

DOC_A = "一、总体要求\n（一）支持小微企业。加大首贷和续贷投放。\n（二）发展绿色金融。支持黄河流域生态保护。\n"
DOC_B = "第一条 为规范个人养老金业务，制定本办法。\n第二条 本办法适用于商业银行。\n"


def quiet(_: str) -> None:
    pass


def stub_settings_for(root: Path, **overrides):
    """Settings over ``root/corpus`` and ``root/index`` for the stand-in model."""
    from assistant.settings import Settings

    values = {
        "corpus_dir": root / "corpus",
        "index_dir": root / "index",
        "cache_dir": root / "cache",
        "data_dir": root / "data",
        "eval_dir": EVAL,
        "model": STUB_MODEL,
        "embedding_backend": "torch",
        "store": "faiss",
        "reranker": "none",
        **overrides,
    }
    return Settings.load(**values)


def build(settings, **kwargs):
    """``update_index`` with the stand-in embedder, quietly."""
    from assistant.embedding.stub import KeywordEmbedder
    from assistant.indexing import update_index

    kwargs.setdefault("embedder", KeywordEmbedder())
    kwargs.setdefault("progress", False)
    kwargs.setdefault("log", quiet)
    return update_index(settings, **kwargs)


def stub_tuning():
    """The bundled tuning with answer thresholds for the stand-in embedder's (low) similarities and
    no fitted answerability model: "found" is decided by the threshold alone. The stand-in embedder
    knows no other language (an English question and Chinese text share no feature), so there is no
    English threshold."""
    from assistant.tuning import Tuning

    return Tuning.load().replace(min_similarity={"zh": 0.3, "en": 0.0}, answerability={})


@pytest.fixture(scope="session", autouse=True)
def no_real_model() -> Iterator[None]:
    """Loading the bundled (or any) real embedding model, or the real reranker, fails a unit test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the unit tier must not load a real embedding model")

    import assistant.embedding.cross as cross
    import assistant.embedding.onnx as onnx
    import assistant.embedding.sentence as sentence

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sentence, "_load", refuse)
        mp.setattr(onnx.OnnxEmbedder, "bundled", classmethod(refuse))
        mp.setattr(cross, "load_trained", refuse)
        mp.setattr(cross, "export_onnx", refuse)
        yield


@pytest.fixture(scope="session")
def keyword_embedder():
    from assistant.embedding.stub import KeywordEmbedder

    return KeywordEmbedder()


@pytest.fixture(scope="session")
def stub_settings(tmp_path_factory: pytest.TempPathFactory):
    """The repository's corpus (a copy) and its index built with the stand-in embedder."""
    root = tmp_path_factory.mktemp("stub")
    shutil.copytree(CORPUS, root / "corpus")
    settings = stub_settings_for(root)
    build(settings)
    return settings


@pytest.fixture(scope="session")
def stub_retriever(stub_settings, keyword_embedder):
    from assistant.retrieval import Retriever

    return Retriever.load(settings=stub_settings, embedder=keyword_embedder, tuning=stub_tuning())


@pytest.fixture(scope="session")
def stub_answerer(stub_retriever, stub_settings):
    from assistant.answering import Answerer

    return Answerer(stub_retriever, stub_settings)


@pytest.fixture
def own_index(tmp_path: Path, stub_settings):
    """Settings over a private copy of the stub corpus and index (for tests that change them)."""
    shutil.copytree(stub_settings.corpus_dir, tmp_path / "corpus")
    shutil.copytree(stub_settings.index_dir, tmp_path / "index")
    return stub_settings_for(tmp_path)


@pytest.fixture
def own_retriever(own_index, keyword_embedder):
    from assistant.retrieval import Retriever

    return Retriever.load(settings=own_index, embedder=keyword_embedder, tuning=stub_tuning())


@pytest.fixture
def small(tmp_path: Path):
    """Two short documents in a fresh corpus folder, not indexed yet."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "doc-a.txt").write_text(DOC_A, encoding="utf-8")
    (corpus / "doc-b.txt").write_text(DOC_B, encoding="utf-8")
    (corpus / "doc-b.meta.json").write_text(
        json.dumps({"title": "养老金办法", "issuer": "某局", "date": "2024-01-01", "source": "test", "language": "zh"}),
        encoding="utf-8",
    )
    return stub_settings_for(tmp_path)
