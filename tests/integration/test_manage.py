"""Corpus management with the bundled model: documents in every format are found right after they
are added and gone after removal, without re-embedding the others; commands killed at any point
leave the old or the new index, both loadable. (Bad input, the CLI's corpus commands and updates:
tests/unit/test_manage.py.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.indexing import update_index
from assistant.ingest.manage import add_documents, doc_id_for, list_documents, remove_document
from assistant.retrieval import Retriever
from assistant.settings import Settings
from assistant.store import open_store
from assistant.store.faiss_store import read_vectors
from assistant.store.segments import IndexReader, current_generation, read_manifest
from assistant.text.numerals import int_to_cn as chinese_number
from tests.conftest import EVAL, ORIGINAL, YELLOW_RIVER, assistant_env
from tests.documents import write_docx, write_gbk_text, write_html, write_pdf, write_traditional


def _quiet(_: str) -> None:
    pass


@pytest.fixture
def managed(tmp_path: Path, corpus_copy: Path, built_index: Path, settings) -> Settings:
    """A copy of the real corpus and of its index, to change."""
    shutil.copytree(corpus_copy, tmp_path / "corpus")
    shutil.copytree(built_index, tmp_path / "index")
    return settings.replace(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", data_dir=tmp_path / "data")


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def _vectors(index_dir: Path, doc_id: str) -> np.ndarray:
    """A document's vector rows."""
    reader = IndexReader.open(index_dir)
    try:
        keys = np.asarray(reader.document_keys(doc_id), dtype=np.int64)
        seg = reader.segment_of(int(keys[0]))
        lo, hi = np.searchsorted(seg.row_key, [keys[0], keys[-1] + 1])
        return read_vectors(seg.path, np.arange(lo, hi))
    finally:
        reader.close()


def _gold() -> tuple[list[str], dict[str, set[str]]]:
    queries = {}
    for line in (EVAL / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        queries[q["_id"]] = q["text"]
    relevant: dict[str, set[str]] = {}
    for name in ("dev.tsv", "test.tsv"):
        for line in (EVAL / "qrels" / name).read_text(encoding="utf-8").splitlines()[1:]:
            qid, clause, _ = line.split("\t")
            relevant.setdefault(queries[qid], set()).add(clause)
    return list(relevant), relevant


def _found_in_top5(retriever: Retriever, questions: list[str], relevant: dict[str, set[str]]) -> set[str]:
    hits = retriever.search_batch(questions, 5)
    return {q for q, h in zip(questions, hits, strict=True) if relevant[q] & {x.clause_id for x in h}}


# -- adding, searching, removing ----------------------------------------------------------------


def test_added_documents_answer_and_a_removed_one_is_gone(managed: Settings, inbox: Path, embedder, retriever) -> None:
    files = [
        write_gbk_text(inbox / "个人养老金通知.txt"),
        write_docx(inbox / "green-credit.docx"),
        write_pdf(inbox / "data-security.pdf"),
        write_html(inbox / "inclusive.html"),
        write_traditional(inbox / "consumer-trad.txt"),
    ]
    before = read_manifest(managed.index_dir)
    before_vectors = {doc: _vectors(managed.index_dir, doc) for doc in ORIGINAL}
    log: list[str] = []
    results = add_documents(files, managed, embedder=embedder, log=log.append)

    assert [r.action for r in results] == ["added"] * 5
    pension, green, pdf, html, trad = results
    # a Chinese file name gives a readable id (pinyin), the same every time
    assert pension.doc_id == doc_id_for("个人养老金通知.txt") == "gerenyanglaojintongzhi"
    assert (pension.format, pension.encoding, pension.issuer, pension.date) == (
        "txt",
        "gbk",
        "国家金融监督管理总局",
        "2024-01-05",
    )
    assert (green.doc_id, green.format, green.title) == ("green-credit", "docx", "关于规范绿色信贷业务的通知")
    assert (pdf.format, pdf.encoding, html.encoding, trad.encoding) == ("pdf", None, "gbk", "big5")
    assert all(r.chunks > 0 and r.clauses > 0 for r in results)

    # Only the new documents were embedded; the original ones kept their vectors and indexing time.
    after = read_manifest(managed.index_dir)
    summary = log[-1]
    assert "added 5, unchanged 2" in summary, log
    new_rows = sum(len(_vectors(managed.index_dir, r.doc_id)) for r in results)
    assert re.search(rf"\b{new_rows} embedded\b", summary), summary
    for doc in ORIGINAL:
        assert after.documents[doc] == before.documents[doc]
        assert (_vectors(managed.index_dir, doc) == before_vectors[doc]).all()

    questions = {
        "个人养老金每年最多可以缴多少钱？": f"{pension.doc_id}:第三条",
        "高耗能高排放项目的贷款怎么管理？": "green-credit:一.二",
        "绿色信贷重点支持哪些项目？": "green-credit:一.三",  # a clause numbered by Word, not typed
        "银行向第三方提供客户个人信息需要满足什么条件？": "data-security:第三条",  # continues over the page break
        "如何提高小微企业首次贷款的可得性？": "inclusive:一.一",
        "保险公司销售产品时要向投保人说明哪些条款？": "consumer-trad:第二条",  # asked in simplified, written 第二條
        "哪些措施支持黄河流域的生态保护？": YELLOW_RIVER,
        "Which measures support Yellow River ecology?": YELLOW_RIVER,
    }
    searcher = Retriever.load(settings=managed, embedder=embedder)
    for question, clause in questions.items():
        top = [h.clause_id for h in searcher.search(question, k=3)]
        assert top[0] == clause, (question, top)

    # The gold questions about the original documents are answered as well as before.
    gold, relevant = _gold()
    found_before = _found_in_top5(retriever, gold, relevant)
    found_after = _found_in_top5(searcher, gold, relevant)
    assert len(found_after) >= len(found_before) - 2, sorted(found_before - found_after)

    listed = {d.doc_id: d for d in list_documents(managed)}
    assert set(listed) == {*ORIGINAL, *(r.doc_id for r in results)}
    assert listed["consumer-trad"].indexed_at and listed["green-credit"].clauses == green.clauses

    remove_document("green-credit", managed, embedder=embedder)
    assert not list(managed.corpus_dir.glob("green-credit.*"))
    gone = searcher.reloaded(managed)
    assert all(h.doc_id != "green-credit" for h in gone.search("绿色信贷重点支持哪些项目？", k=10))
    assert "green-credit" not in {d.doc_id for d in list_documents(managed)}
    removed = read_manifest(managed.index_dir)
    assert all(removed.documents[d] == after.documents[d] for d in ORIGINAL)  # no re-embedding
    for question, clause in questions.items():
        if not clause.startswith("green-credit"):
            assert gone.search(question, k=1)[0].clause_id == clause, question


# -- crashes ------------------------------------------------------------------------------------


def _regulation(articles: int) -> str:
    """A made-up regulation with ``articles`` different articles (enough to embed for a few seconds)."""
    subjects = ["商业银行", "保险公司", "信托公司", "金融租赁公司", "消费金融公司", "理财公司", "汽车金融公司"]
    duties = [
        "建立健全流动性风险管理体系，按季度开展压力测试",
        "加强关联交易管理，逐笔审查重大关联交易",
        "完善消费者投诉处理机制，在十五个工作日内答复投诉人",
        "定期披露资本充足率和不良资产情况",
        "对外包服务商开展尽职调查，签订保密协议",
        "建立反洗钱内部控制制度，识别可疑交易",
    ]
    lines = ["金融机构稳健经营管理办法（试行）"]
    for i in range(1, articles + 1):
        subject, duty = subjects[i % len(subjects)], duties[(i * 5) % len(duties)]
        lines.append(f"第{chinese_number(i)}条 {subject}应当{duty}。第{i}项要求的执行情况应当纳入年度内部审计范围。")
    return "\n".join(lines) + "\n"


def _run_and_kill(cmd: list[str], env: dict[str, str], *, after: float | None = None, on: str = "", delay=0.0) -> str:
    """Start ``cmd``; SIGKILL it ``after`` seconds, or ``delay`` seconds after a stderr line containing ``on``."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(240, proc.kill)
    watchdog.start()
    seen = []
    try:
        if after is not None:
            time.sleep(after)
        else:
            assert proc.stderr is not None
            for line in proc.stderr:
                seen.append(line)
                if on in line:
                    break
            else:
                raise AssertionError(f"{cmd[-2:]} ended without printing {on!r}: {''.join(seen)[-500:]}")
            time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        if proc.stderr is not None:
            proc.stderr.close()
    return "".join(seen)


@pytest.mark.slow
def test_killed_commands_leave_a_loadable_index(tmp_path: Path, embedder, settings) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "doc-a.txt").write_text("一、总体要求\n（一）支持小微企业。加大首贷和续贷投放。\n", encoding="utf-8")
    settings = settings.replace(corpus_dir=corpus, index_dir=tmp_path / "index", data_dir=tmp_path / "data")
    update_index(settings, embedder=embedder, progress=False, log=_quiet)
    old = current_generation(settings.index_dir)
    rules = tmp_path / "rules.txt"
    rules.write_text(_regulation(24), encoding="utf-8")
    cmd = [sys.executable, "-m", "assistant", "--corpus-dir", str(corpus), "--index-dir", str(settings.index_dir)]
    env = {**assistant_env(settings), "PYTHONUNBUFFERED": "1"}

    def indexed() -> set[str]:
        store = open_store(settings.index_dir)  # every segment's files are read: loadable
        try:
            store.reader.stats("words")
            return set(store.reader.documents)
        finally:
            store.close()

    _run_and_kill([*cmd, "add", str(rules)], env, after=0.5)  # still starting up
    assert current_generation(settings.index_dir) == old and indexed() == {"doc-a"}

    _run_and_kill([*cmd, "add", str(rules)], env, on="Embedding")  # the corpus is written, the index not yet
    assert current_generation(settings.index_dir) == old and indexed() == {"doc-a"}
    assert (corpus / "rules.txt").is_file() and (corpus / "rules.meta.json").is_file()

    _run_and_kill([*cmd, "index", "--no-progress"], env, on="Embedding", delay=1.0)  # mid-embedding
    assert indexed() in ({"doc-a"}, {"doc-a", "rules"})  # old or new, both loadable

    update_index(settings, embedder=embedder, progress=False, log=_quiet)
    assert indexed() == {"doc-a", "rules"}
    hit = Retriever.load(settings=settings, embedder=embedder).search("第五条对理财公司的关联交易有什么要求？", k=1)[0]
    assert hit.clause_id == "rules:第五条"


# Runs in a fresh process: builds an index with the stand-in embedder (fast and deterministic),
# then for n = 1, 2, … forks a child that changes the corpus and is SIGKILLed just before its n-th
# durable filesystem step (fsync, rename, unlink, rmtree), until a child runs to the end. After each
# kill it records what the corpus and the index hold, then runs a build, then the change again.
_HARNESS = r"""
import json, os, shutil, signal, sys, zlib
from pathlib import Path

from assistant.embedding.stub import KeywordEmbedder

EMBEDDER = KeywordEmbedder()
from assistant.settings import Settings
from assistant.ingest.corpus import load_corpus
from assistant.errors import IndexNotFoundError
from assistant.indexing import update_index
from assistant.store import open_store
from assistant.ingest.manage import add_documents, remove_document
from assistant.text.termbase import load_termbase
from assistant.text.normalize import to_simplified
from assistant.text.tokens import tokenize

tokenize("预热分词词典"), to_simplified("預熱"), load_termbase(())  # load dictionaries once, before forking


def arm(n):
    count = [0]

    def wrap(fn):
        def step(*a, **k):
            count[0] += 1
            if count[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*a, **k)

        return step

    os.fsync, os.replace, os.unlink, shutil.rmtree = (wrap(f) for f in (os.fsync, os.replace, os.unlink, shutil.rmtree))


def in_child(fn, n=0):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if n:
                arm(n)
            fn()
        except BaseException as exc:
            print(f"child: {exc!r}", file=sys.stderr)
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return "killed" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"


def state(s):
    row = {}
    try:
        row["corpus"] = sorted(d.doc_id for d in load_corpus(s.corpus_dir))
        store = open_store(s.index_dir)  # every segment's files are read: loadable
        store.reader.stats("words")
        row["index"] = sorted(store.reader.documents)
        store.close()
    except IndexNotFoundError:
        row["index"] = None
    except Exception as exc:
        row["error"] = repr(exc)
    return row


work, action, target = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
pristine = work / "pristine"
settings = lambda root: Settings.load(
    corpus_dir=root / "corpus", index_dir=root / "index", cache_dir=root / "cache", model=EMBEDDER.model_id
)
build = lambda s: update_index(s, embedder=EMBEDDER, progress=False, log=lambda _: None)
assert in_child(lambda: build(settings(pristine))) == "exit 0"
n = 0
while True:
    n += 1
    run = work / f"run{n}"
    shutil.copytree(pristine, run, symlinks=True)
    s = settings(run)
    if action == "add":
        change = lambda: add_documents([run / target], s, embedder=EMBEDDER, log=lambda _: None)
    else:
        change = lambda: remove_document(target, s, embedder=EMBEDDER)
    row = {"n": n, "outcome": in_child(change, n), **state(s)}
    row["build"] = in_child(lambda: build(s))
    row["after_build"] = state(s)
    if action == "add" or target in row["after_build"].get("corpus", []):
        row["redo"] = in_child(change)
    row["final"] = state(s)
    row["final"]["temp_files"] = sorted(p.name for p in (run / "corpus").iterdir() if p.name.endswith(".tmp"))
    print(json.dumps(row, ensure_ascii=False), flush=True)
    shutil.rmtree(run)
    if row["outcome"] != "killed":
        break
"""


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A temporary folder in memory where there is one (a process kill, not a power cut, is being
    tested, so fsync need not reach a disk: the sweep runs in seconds instead of a minute)."""
    if not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="kill-", dir="/dev/shm"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("action", ["add", "remove"])
def test_a_kill_at_any_step_leaves_the_old_or_the_new_index(scratch: Path, action: str) -> None:
    pristine = scratch / "pristine" / "corpus"
    pristine.mkdir(parents=True)
    (pristine / "doc-a.txt").write_text("一、总体要求\n（一）支持小微企业。加大首贷和续贷投放。\n", encoding="utf-8")
    (pristine / "doc-b.txt").write_text(
        "第一条 为规范养老金业务，制定本办法。\n第二条 本办法适用于银行。\n", encoding="utf-8"
    )
    (scratch / "pristine" / "new.txt").write_text("第一条 数据应当分级保护。\n第二条 本办法自发布之日起施行。\n")
    harness = scratch / "harness.py"
    harness.write_text(_HARNESS, encoding="utf-8")
    target = "new.txt" if action == "add" else "doc-b"
    out = subprocess.run(
        [sys.executable, str(harness), str(scratch), action, target],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    old, new = (["doc-a", "doc-b"], ["doc-a", "doc-b", "new"]) if action == "add" else (["doc-a", "doc-b"], ["doc-a"])
    # Killed at every step of the corpus and index writes (a removal writes a tombstone, not a new segment).
    assert len(rows) > (20 if action == "add" else 8) and rows[-1]["outcome"] == "exit 0"
    for row in rows:
        assert "error" not in row and row["index"] in (old, new), row  # loadable: the old or the new index
        assert row["corpus"] in (old, new), row
        assert row["build"] == "exit 0" and row["after_build"]["index"] == row["after_build"]["corpus"], row
        assert row.get("redo", "exit 0") == "exit 0" and row["final"]["index"] == new, row
        assert action == "remove" or not row["final"]["temp_files"], row  # a new add clears what a kill left
    assert any(r["corpus"] == new and r["index"] == old for r in rows)  # the window between the two commits
