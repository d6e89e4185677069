"""Corpus management: add / update / remove documents and list them; the index follows, incrementally
and atomically (a build killed at any point leaves the old or the new index, both loadable)."""

from __future__ import annotations

import hashlib
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

import pytest
from test_ingest import (
    PENSION,
    write_docx,
    write_gbk_text,
    write_html,
    write_pdf,
    write_scanned_pdf,
    write_traditional,
)

from assistant.errors import CorpusError, DocumentNotFoundError, DocumentTooLargeError, DuplicateDocumentError
from assistant.indexing import build_index, current_generation, load_index
from assistant.ingest.manage import add_documents, doc_id_for, list_documents, remove_document
from assistant.interfaces.cli import main
from assistant.retrieval.retriever import Retriever
from assistant.settings import Settings
from assistant.text.numerals import int_to_cn as chinese_number

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL = ("cbirc-2023-shandong", "sz-2025-reform")
YELLOW_RIVER = "cbirc-2023-shandong:四.十一"


def _quiet(_: str) -> None:
    pass


@pytest.fixture
def managed(tmp_path: Path, corpus_copy: Path, built_index: Path, cache_dir: Path) -> Settings:
    """A copy of the real corpus and of its index, to change."""
    shutil.copytree(corpus_copy, tmp_path / "corpus")
    shutil.copytree(built_index, tmp_path / "index")
    return Settings.load(
        corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", cache_dir=cache_dir, data_dir=tmp_path / "data"
    )


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file under ``folders`` with a hash of its bytes."""
    return {
        str(p.relative_to(folder.parent)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for folder in folders
        for p in sorted(folder.rglob("*"))
    }


def _rows_of(index, doc_id: str) -> list[int]:
    return [i for i, r in enumerate(index.rows) if index.chunks[r.chunk]["doc_id"] == doc_id]


def _gold() -> tuple[list[str], dict[str, set[str]]]:
    queries = {}
    for line in (ROOT / "eval" / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        queries[q["_id"]] = q["text"]
    relevant: dict[str, set[str]] = {}
    for name in ("dev.tsv", "test.tsv"):
        for line in (ROOT / "eval" / "qrels" / name).read_text(encoding="utf-8").splitlines()[1:]:
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
    before = load_index(managed.index_dir)
    log: list[str] = []
    results = add_documents(files, managed, embedder=embedder, log=log.append)

    assert [r.action for r in results] == ["added"] * 5
    pension, green, pdf, html, trad = results
    assert pension.doc_id == doc_id_for("个人养老金通知.txt") and pension.doc_id.startswith("doc-")
    assert any("--doc-id" in w for w in pension.warnings)
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
    after = load_index(managed.index_dir)
    summary = log[-1]
    assert "added 5, unchanged 2" in summary, log
    new_rows = sum(len(_rows_of(after, r.doc_id)) for r in results)
    assert re.search(rf"\b{new_rows} embedded\b", summary), summary
    old_vectors = before.vectors.reconstruct_n(0, before.vectors.ntotal)
    new_vectors = after.vectors.reconstruct_n(0, after.vectors.ntotal)
    for doc in ORIGINAL:
        assert after.manifest["documents"][doc] == before.manifest["documents"][doc]
        assert (old_vectors[_rows_of(before, doc)] == new_vectors[_rows_of(after, doc)]).all()

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
    removed = load_index(managed.index_dir)
    assert all(removed.manifest["documents"][d] == after.manifest["documents"][d] for d in ORIGINAL)  # no re-embedding
    for question, clause in questions.items():
        if not clause.startswith("green-credit"):
            assert gone.search(question, k=1)[0].clause_id == clause, question


def test_update_re_embeds_only_that_document(managed: Settings, inbox: Path, embedder) -> None:
    path = write_gbk_text(inbox / "pension.txt")
    assert add_documents([path], managed, embedder=embedder, log=_quiet)[0].action == "added"
    gen = current_generation(managed.index_dir)
    log: list[str] = []
    again = add_documents([path], managed, embedder=embedder, log=log.append)[0]
    assert again.action == "unchanged" and "up to date" in log[-1]
    assert current_generation(managed.index_dir) == gen

    path.write_bytes(PENSION.replace("一万二千元", "一万五千元").encode("gbk"))
    changed = add_documents([path], managed, update_index=False, log=_quiet)[0]
    assert changed.action == "updated" and changed.doc_id == "pension"
    report = build_index(managed, embedder=embedder, progress=False, log=_quiet)
    index = load_index(managed.index_dir)
    assert report.updated == ["pension"] and sorted(report.reused) == sorted(ORIGINAL)
    changed_views = [i for i in _rows_of(index, "pension") if "一万五千元" in index.rows[i].text]
    assert report.embedded_rows == len(changed_views) > 0  # only the views whose text changed
    texts = "".join(c["text"] for c in index.chunks if c["doc_id"] == "pension")
    assert "一万五千元" in texts and "一万二千元" not in texts

    retitled = add_documents([path], managed, meta={"title": "个人养老金办法（修订）"}, embedder=embedder, log=_quiet)
    assert retitled[0].action == "updated"
    info = {d.doc_id: d for d in list_documents(managed)}["pension"]
    assert info.title == "个人养老金办法（修订）" and info.issuer == "国家金融监督管理总局" and info.indexed_at


# -- bad input ----------------------------------------------------------------------------------


def test_bad_input_gets_a_clear_message_and_changes_nothing(
    managed: Settings, inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_to_embed(*args, **kwargs):
        raise AssertionError("nothing should be embedded")

    monkeypatch.setattr("assistant.embedding.Embedder.__init__", fail_to_embed)
    good = write_gbk_text(inbox / "good.txt")
    (inbox / "empty.txt").write_bytes(b"")
    (inbox / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (inbox / "big.txt").write_bytes("第一条 内容。\n".encode() * 200)
    (inbox / "copy-of-sz.txt").write_bytes(
        (managed.corpus_dir / "sz-2025-reform.txt").read_text(encoding="utf-8").encode("gb18030")
    )
    (inbox / "twin.txt").write_bytes(good.read_bytes())
    (inbox / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(64))
    (inbox / "bad\nname.txt").write_text("第一条 内容。\n", encoding="utf-8")
    write_scanned_pdf(inbox / "scan.pdf")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.txt").write_text("第一条 内容。\n", encoding="utf-8")
    (inbox / "link.txt").symlink_to(outside / "secret.txt")

    cases: list[tuple[list[Path], dict, type[Exception], str]] = [
        ([inbox / "empty.txt"], {}, CorpusError, r"^empty\.txt: empty file$"),
        ([inbox / "binary.txt"], {}, CorpusError, r"^binary\.txt: binary file, not text$"),
        (
            [inbox / "big.txt"],
            {"limit": 1000},
            DocumentTooLargeError,
            r"^big\.txt: 3\.9 KB is over the size limit of 1000 bytes",
        ),
        (
            [inbox / "copy-of-sz.txt"],
            {},
            DuplicateDocumentError,
            r"^copy-of-sz\.txt: same content as document 'sz-2025-reform', already in the corpus$",
        ),
        ([good, inbox / "twin.txt"], {}, DuplicateDocumentError, r"^twin\.txt: same content as good\.txt"),
        ([inbox / "old.doc"], {}, CorpusError, r"^old\.doc: an old Word \.doc file; save it as \.docx$"),
        ([inbox / "bad\nname.txt"], {}, CorpusError, r"^bad\\nname\.txt: its file name contains control characters"),
        ([inbox / "scan.pdf"], {}, CorpusError, r"^scan\.pdf: the PDF has no text layer \(a scan\?\); run OCR first"),
        (
            [outside / "secret.txt"],
            {"root": inbox},
            CorpusError,
            r"^secret\.txt: not inside the allowed upload folder$",
        ),
        ([inbox / "link.txt"], {"root": inbox}, CorpusError, r"^link\.txt: not inside the allowed upload folder$"),
        ([inbox / "missing.txt"], {}, CorpusError, r"^missing\.txt: no such file$"),
        ([good], {"doc_id": "Bad Id"}, CorpusError, r"^invalid document id 'Bad Id'"),
        ([good], {"meta": {"date": "soon"}}, CorpusError, r"^date 'soon' is not a date"),
        # One bad file in a batch: the good one is not added either.
        (
            [good, inbox / "empty.txt", inbox / "old.doc"],
            {},
            CorpusError,
            r"^2 files cannot be added, so nothing was: ",
        ),
    ]
    before = snapshot(managed.corpus_dir, managed.index_dir)
    for paths, options, error, pattern in cases:
        settings = managed.replace(max_document_bytes=options.get("limit"))
        with pytest.raises(error, match=pattern) as info:
            add_documents(
                paths,
                settings,
                doc_id=options.get("doc_id"),
                meta=options.get("meta"),
                allowed_root=options.get("root"),
                log=_quiet,
            )
        assert "\n" not in str(info.value), pattern
        assert snapshot(managed.corpus_dir, managed.index_dir) == before, pattern

    with pytest.raises(
        DocumentNotFoundError, match=r"^no document 'nope' in the corpus \(known: cbirc-2023-shandong, "
    ):
        remove_document("nope", managed)
    assert snapshot(managed.corpus_dir, managed.index_dir) == before


def test_odd_file_names_get_safe_ids_and_folders_are_searched(managed: Settings, inbox: Path) -> None:
    (inbox / "sub").mkdir()
    odd = write_gbk_text(inbox / "sub" / "（2024）个人 养老金 通知!.txt")
    write_html(inbox / "Inclusive Finance (NFRA).HTML")
    (inbox / "notes.xlsx").write_bytes(b"PK\x03\x04")
    (inbox / ".hidden.txt").write_text("第一条 隐藏。\n", encoding="utf-8")
    skipped: list[str] = []
    results = add_documents([inbox], managed, update_index=False, log=skipped.append)
    assert {r.file: r.doc_id for r in results} == {
        "inbox/Inclusive Finance (NFRA).HTML": "inclusive-finance-nfra",
        "inbox/sub/（2024）个人 养老金 通知!.txt": doc_id_for(odd.name),
    }
    assert re.fullmatch(r"2024-[0-9a-f]{8}", doc_id_for(odd.name))
    assert skipped == ["skipped inbox/notes.xlsx: not a supported format"]
    assert (managed.corpus_dir / f"{doc_id_for(odd.name)}.txt").read_text(encoding="utf-8").startswith("关于加强个人")


def test_a_failed_index_update_puts_the_corpus_back(
    managed: Settings, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(managed.corpus_dir, managed.index_dir)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("assistant.manage.build_index", broken)
    with pytest.raises(OSError, match="disk full"):
        add_documents([write_gbk_text(inbox / "pension.txt")], managed, log=_quiet)
    with pytest.raises(OSError, match="disk full"):
        remove_document("sz-2025-reform", managed)
    assert snapshot(managed.corpus_dir, managed.index_dir) == before


# -- command line -------------------------------------------------------------------------------


def test_cli_add_list_remove(managed: Settings, inbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dirs = ["--corpus-dir", str(managed.corpus_dir), "--index-dir", str(managed.index_dir)]
    docx = write_docx(inbox / "绿色信贷.docx")
    args = ["add", str(docx), "--doc-id", "green", "--date", "2022年6月2日", "--source", "内部转发", "--no-index"]
    assert main([*dirs, *args]) == 0
    out = capsys.readouterr().out
    assert "added     green  关于规范绿色信贷业务的通知" in out
    assert "docx · 5 clauses · 中国银保监会办公厅 · 2022-06-02 · zh  ← 绿色信贷.docx" in out
    assert "run `assistant index` to make them searchable" in out
    meta = json.loads((managed.corpus_dir / "green.meta.json").read_text(encoding="utf-8"))
    assert meta["source"] == "内部转发" and meta["format"] == "docx" and meta["original_file"] == "绿色信贷.docx"

    assert main([*dirs, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["DOC", "ID", "TITLE", "DATE", "CLAUSES", "LANG", "INDEXED", "(UTC)"]
    green = next(line for line in table if line.startswith("green "))
    assert "关于规范绿色信贷业务的通知" in green and "2022-06-02" in green and green.endswith("not indexed")
    assert table[-1] == "3 documents, 60 clauses; 1 not indexed: run `assistant index`."

    assert main([*dirs, "list", "--json"]) == 0
    listed = {d["doc_id"]: d for d in json.loads(capsys.readouterr().out)}
    assert listed["green"]["indexed_at"] is None and listed[ORIGINAL[0]]["indexed_at"]
    assert set(listed["green"]) == {
        "doc_id",
        "title",
        "issuer",
        "date",
        "language",
        "clauses",
        "chunks",
        "indexed_at",
        "source",
    }

    assert main([*dirs, "remove", "nope"]) == 2
    err = capsys.readouterr().err
    assert err == "error: no document 'nope' in the corpus (known: cbirc-2023-shandong, green, sz-2025-reform)\n"
    assert main([*dirs, "remove", "green", "--no-index"]) == 0
    assert "Removed green" in capsys.readouterr().out and not list(managed.corpus_dir.glob("green.*"))
    (inbox / "empty.md").write_bytes(b"")
    assert main([*dirs, "add", str(inbox / "empty.md")]) == 2
    assert capsys.readouterr().err == "error: empty.md: empty file\n"


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
def test_killed_commands_leave_a_loadable_index(tmp_path: Path, embedder, cache_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "doc-a.txt").write_text("一、总体要求\n（一）支持小微企业。加大首贷和续贷投放。\n", encoding="utf-8")
    settings = Settings.load(corpus_dir=corpus, index_dir=tmp_path / "index", cache_dir=cache_dir)
    build_index(settings, embedder=embedder, progress=False, log=_quiet)
    old = current_generation(settings.index_dir)
    rules = tmp_path / "rules.txt"
    rules.write_text(_regulation(24), encoding="utf-8")
    cmd = [sys.executable, "-m", "assistant", "--corpus-dir", str(corpus), "--index-dir", str(settings.index_dir)]
    env = {**os.environ, "ASSISTANT_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}

    def indexed() -> set[str]:
        return set(load_index(settings.index_dir).manifest["documents"])

    _run_and_kill([*cmd, "add", str(rules)], env, after=0.5)  # still starting up
    assert current_generation(settings.index_dir) == old and indexed() == {"doc-a"}

    _run_and_kill([*cmd, "add", str(rules)], env, on="Embedding")  # the corpus is written, the index not yet
    assert current_generation(settings.index_dir) == old and indexed() == {"doc-a"}
    assert (corpus / "rules.txt").is_file() and (corpus / "rules.meta.json").is_file()

    _run_and_kill([*cmd, "index", "--no-progress"], env, on="Embedding", delay=1.0)  # mid-embedding
    assert indexed() in ({"doc-a"}, {"doc-a", "rules"})  # old or new, both loadable

    build_index(settings, embedder=embedder, progress=False, log=_quiet)
    assert indexed() == {"doc-a", "rules"}
    hit = Retriever.load(settings=settings, embedder=embedder).search("第五条对理财公司的关联交易有什么要求？", k=1)[0]
    assert hit.clause_id == "rules:第五条"


# Runs in a fresh process: builds an index with a stand-in embedding model (fast and deterministic),
# then for n = 1, 2, … forks a child that changes the corpus and is SIGKILLed just before its n-th
# durable filesystem step (fsync, rename, unlink, rmtree), until a child runs to the end. After each
# kill it records what the corpus and the index hold, then runs a build, then the change again.
_HARNESS = r"""
import json, os, shutil, signal, sys, zlib
from pathlib import Path

import numpy as np

import assistant.embedding.sentence as embedding


class StandIn:
    prompts = {}

    def get_embedding_dimension(self):
        return 384

    def encode(self, texts, **_):
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, t in enumerate(texts):
            v = np.random.default_rng(zlib.crc32(t.encode())).standard_normal(384)
            out[i] = v / np.linalg.norm(v)
        return out


embedding._load = lambda model, cache_dir: StandIn()

from assistant.settings import Settings
from assistant.ingest.corpus import load_corpus
from assistant.errors import IndexNotFoundError
from assistant.indexing import build_index, load_index
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
        row["index"] = sorted(load_index(s.index_dir).manifest["documents"])
    except IndexNotFoundError:
        row["index"] = None
    except Exception as exc:
        row["error"] = repr(exc)
    return row


work, action, target = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
pristine = work / "pristine"
settings = lambda root: Settings.load(corpus_dir=root / "corpus", index_dir=root / "index", cache_dir=root / "cache")
assert in_child(lambda: build_index(settings(pristine), progress=False, log=lambda _: None)) == "exit 0"
n = 0
while True:
    n += 1
    run = work / f"run{n}"
    shutil.copytree(pristine, run, symlinks=True)
    s = settings(run)
    if action == "add":
        change = lambda: add_documents([run / target], s, log=lambda _: None)
    else:
        change = lambda: remove_document(target, s)
    row = {"n": n, "outcome": in_child(change, n), **state(s)}
    row["build"] = in_child(lambda: build_index(s, progress=False, log=lambda _: None))
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
    assert len(rows) > 20 and rows[-1]["outcome"] == "exit 0"  # killed at every step of corpus and index writes
    for row in rows:
        assert "error" not in row and row["index"] in (old, new), row  # loadable: the old or the new index
        assert row["corpus"] in (old, new), row
        assert row["build"] == "exit 0" and row["after_build"]["index"] == row["after_build"]["corpus"], row
        assert row.get("redo", "exit 0") == "exit 0" and row["final"]["index"] == new, row
        assert action == "remove" or not row["final"]["temp_files"], row  # a new add clears what a kill left
    assert any(r["corpus"] == new and r["index"] == old for r in rows)  # the window between the two commits
