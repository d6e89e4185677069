"""The same answers on every CPU: the default backend (ONNX Runtime: the embedder in int8, the reranker
in float32) against PyTorch float32 for both, on both gold sets.

ONNX Runtime's int8 kernels differ between CPU families (AMX, AVX-512 VNNI, AVX2), and so do the
vectors and logits they produce, by far less than int8 differs from float32. If the default
configuration's figures and refusal decisions hold between int8 and float32, they hold between two
int8 machines; and the refusal decisions other tests assert must sit further from the threshold
than the two backends ever differ (:data:`tests.conftest.DECISION_MARGIN`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.evaluation.metrics import mrr_at, recall_at
from tests.conftest import CORPUS, DECISION_MARGIN, EVAL, decision_margin

# Two indexes and every test question reranked per gold set: minutes, more on a slow or busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _run(settings, suite, questions):
    """Per question: its ranked units (default configuration) and its refusal decision and score."""
    from assistant.answering import Answerer
    from assistant.indexing import update_index
    from assistant.retrieval import Retriever

    update_index(settings, progress=False, log=lambda _: None)
    retriever = Retriever.load(settings=settings)
    answerer = Answerer(retriever, settings)
    ranked = retriever.search_batch([q.text for q in questions], suite.depth, rerank=True)
    out = []
    for q, hits in zip(questions, ranked, strict=True):
        units = list(dict.fromkeys(suite.unit(h.clause_id) for h in hits))[:10]
        # the answer reads the ranked list's first five (one search per question; both backends alike)
        cited, signals = answerer.relevant_hits(hits[:5], q.language, query=q.text)
        z = decision_margin(signals) if "p_answerable" in signals else 0.0
        out.append((units, bool(cited), z))
    return out


@pytest.fixture(scope="module", params=["builtin", "library"])
def backends(request, tmp_path_factory, cache_dir):
    from assistant.evaluation.gold import load_gold
    from assistant.evaluation.suites import DEFAULT_LIBRARY, SUITES
    from assistant.settings import Settings

    suite = SUITES[request.param]
    root: Path = tmp_path_factory.mktemp(f"agree-{suite.name}")
    shutil.copytree(CORPUS, root / "corpus")
    base = Settings.load(
        corpus_dir=root / "corpus",
        index_dir=root / "index",
        cache_dir=cache_dir,
        data_dir=root / "data",
        eval_dir=EVAL,
    )
    int8 = suite.settings(base, "ci", DEFAULT_LIBRARY, lambda _: None)
    fp32 = int8.replace(embedding_backend="torch", index_dir=Path(int8.index_dir).with_name("index-fp32"))
    questions = load_gold(suite.folder).questions("test", in_corpus=None)
    return questions, _run(int8, suite, questions), _run(fp32, suite, questions)


#: Measured 2026-12-05 (float32 reranker, order-free refusal signals): on the library's test split
#: the int8 embedder's vectors still move two English questions across rank 5 (R@5 0.776 against
#: 0.759) and four refusal decisions of 284 (98.6 %). Issue 18 item 1 stays open on it; strict, so
#: that the marker must go once they agree.
LIBRARY_GAP = pytest.mark.xfail(strict=True, reason="library split: int8 and float32 first stages differ (issue 18)")


def _known_gap(request) -> None:
    if request.node.callspec.params["backends"] == "library":
        request.applymarker(LIBRARY_GAP)


def test_figures_agree_within_a_hundredth(backends, request) -> None:
    _known_gap(request)
    questions, int8, fp32 = backends
    for lang in ("zh", "en"):
        idx = [i for i, q in enumerate(questions) if q.language == lang and q.in_corpus]
        for metric in (lambda r, q: recall_at(r, q.relevant, 5), lambda r, q: mrr_at(r, q.relevant, 10)):
            a = np.mean([metric(int8[i][0], questions[i]) for i in idx])
            b = np.mean([metric(fp32[i][0], questions[i]) for i in idx])
            assert abs(a - b) <= 0.01 + 1e-9, (lang, a, b)  # (one question of 50 moving one rank is 0.01)


def test_refusal_decisions_agree(backends, request) -> None:
    _known_gap(request)
    questions, int8, fp32 = backends
    same = sum(a[1] == b[1] for a, b in zip(int8, fp32, strict=True))
    assert same >= 0.99 * len(questions), f"{len(questions) - same} of {len(questions)} decisions differ"


def test_decision_scores_move_less_than_the_margin_tests_keep(backends) -> None:
    """The margin the other tests demand of a refusal (or an answer) is larger than what the backends
    change in the decision's score (logit of p_answerable minus the threshold's), for 99 % of questions."""
    _, int8, fp32 = backends
    moved = np.abs([a[2] - b[2] for a, b in zip(int8, fp32, strict=True)])
    assert float(np.percentile(moved, 99)) < DECISION_MARGIN, sorted(moved)[-5:]
