"""Corpus management without a real model: add / update / remove and list documents, bad input
changes nothing, a failed index update puts the corpus back, the CLI's corpus commands. (Documents
found by the bundled model after they are added, and killed commands: integration.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import (
    CorpusError,
    DocumentExistsError,
    DocumentNotFoundError,
    DocumentTooLargeError,
    DuplicateDocumentError,
)
from assistant.indexing import update_index
from assistant.ingest.manage import AddPolicy, add_documents, doc_id_for, list_documents, remove_document
from assistant.interfaces.cli import main
from assistant.settings import Settings
from assistant.store.segments import IndexReader, current_generation
from tests.conftest import ORIGINAL, snapshot
from tests.documents import PENSION, write_docx, write_gbk_text, write_html, write_scanned_pdf
from tests.unit.conftest import quiet

_quiet = quiet
REPLACE = AddPolicy(replace=True)


@pytest.fixture
def managed(own_index) -> Settings:
    """A copy of the real corpus and of its (stand-in) index, to change."""
    return own_index


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def _rows(index_dir: Path, doc_id: str) -> list[str]:
    """The text of each vector row of a document."""
    from assistant.indexing import text_view, translation_view
    from assistant.store.base import TRANSLATION_VIEW

    reader = IndexReader.open(index_dir)
    try:
        keys = np.asarray(reader.document_keys(doc_id), dtype=np.int64)
        seg = reader.segment_of(int(keys[0]))
        lo, hi = np.searchsorted(seg.row_key, [keys[0], keys[-1] + 1])
        records = dict(zip(keys.tolist(), reader.records(keys), strict=True))
        return [
            (translation_view if seg.row_flags[r] & TRANSLATION_VIEW else text_view)(records[int(seg.row_key[r])])
            for r in range(lo, hi)
        ]
    finally:
        reader.close()


# -- adding and updating ------------------------------------------------------------------------


def test_update_re_embeds_only_that_document(managed: Settings, inbox: Path, keyword_embedder) -> None:
    embedder = keyword_embedder
    path = write_gbk_text(inbox / "pension.txt")
    assert add_documents([path], managed, embedder=embedder, log=_quiet)[0].action == "added"
    gen = current_generation(managed.index_dir)
    log: list[str] = []
    again = add_documents([path], managed, embedder=embedder, log=log.append)[0]
    assert again.action == "unchanged" and "up to date" in log[-1]
    assert current_generation(managed.index_dir) == gen

    path.write_bytes(PENSION.replace("一万二千元", "一万五千元").encode("gbk"))
    with pytest.raises(DocumentExistsError, match="--replace"):  # other content under the same id: only on request
        add_documents([path], managed, update_index=False, log=_quiet)
    changed = add_documents([path], managed, update_index=False, log=_quiet, policy=REPLACE)[0]
    assert changed.action == "updated" and changed.doc_id == "pension"
    report = update_index(managed, embedder=embedder, progress=False, log=_quiet)
    assert report.updated == ["pension"] and sorted(report.reused) == sorted(ORIGINAL)
    rows = _rows(managed.index_dir, "pension")
    changed_views = [text for text in rows if "一万五千元" in text]
    assert report.embedded_rows == len(changed_views) > 0  # only the views whose text changed
    texts = "".join(rows)
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

    monkeypatch.setattr("assistant.indexing.load_embedder", fail_to_embed)
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
    assert doc_id_for(odd.name) == "2024-geren-yanglaojin-tongzhi"  # readable: pinyin for the Chinese
    assert skipped == ["skipped inbox/notes.xlsx: not a supported format"]
    assert (managed.corpus_dir / f"{doc_id_for(odd.name)}.txt").read_text(encoding="utf-8").startswith("关于加强个人")


def test_a_failed_index_update_puts_the_corpus_back(
    managed: Settings, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(managed.corpus_dir, managed.index_dir)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("assistant.ingest.manage._update_index", broken)
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
        "law_id",
        "effective",
        "in_force",
        "superseded_by",
        "versions",
    }
    assert listed["green"]["in_force"] and listed["green"]["versions"] == ["green"]

    assert main([*dirs, "remove", "nope"]) == 2
    err = capsys.readouterr().err
    assert err == "error: no document 'nope' in the corpus (known: cbirc-2023-shandong, green, sz-2025-reform)\n"
    assert main([*dirs, "remove", "green", "--no-index"]) == 0
    assert "Removed green" in capsys.readouterr().out and not list(managed.corpus_dir.glob("green.*"))
    (inbox / "empty.md").write_bytes(b"")
    # --strict: all or nothing, one line on stderr
    assert main([*dirs, "add", str(inbox / "empty.md"), str(docx), "--strict", "--no-index"]) == 2
    assert capsys.readouterr().err == "error: empty.md: empty file\n"
    assert not list(managed.corpus_dir.glob("lvsexindai.*"))
    # without it, the files that can be added are, and the others are listed (exit 1)
    assert main([*dirs, "add", str(inbox / "empty.md"), str(docx), "--no-index"]) == 1
    out = capsys.readouterr().out
    assert "added     lvsexindai  关于规范绿色信贷业务的通知" in out
    assert "Skipped 1 file (the others were added):" in out and "empty.md: empty file" in out
    assert "1 added, 1 skipped" in out


def test_written_files_follow_the_umask_not_mkstemp(tmp_path) -> None:
    from assistant.fileio import _umask, write_text

    write_text(tmp_path / "report.md", "x")
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o666 & ~_umask()
