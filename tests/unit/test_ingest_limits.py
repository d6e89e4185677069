"""Limits on what ingestion produces: archive expansion and parts, extracted characters, chunks.

Every fixture is built in memory or in a temporary folder; no embedding model is loaded.
"""

from __future__ import annotations

import functools
import io
import re
import time
import zipfile
from pathlib import Path

import pytest

from assistant.errors import CorpusError, DocumentTooLargeError
from assistant.ingest.formats import read_bytes, read_document
from assistant.ingest.manage import add_documents
from assistant.settings import Settings

PARAGRAPH = "<w:p><w:r><w:t>第一条 为规范个人养老金业务，保护参加人合法权益，制定本办法。</w:t></w:r></w:p>"


@functools.cache
def small_docx(text: str = "第一条 为规范业务，制定本办法。") -> bytes:
    import docx

    d = docx.Document()
    d.add_paragraph(text)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def docx_with(document_xml_parts: int, *, extra_members: int = 0) -> bytes:
    """A .docx whose word/document.xml holds ``document_xml_parts`` repeated paragraphs (streamed
    into the archive, never held whole in memory), plus ``extra_members`` tiny parts."""
    source = zipfile.ZipFile(io.BytesIO(small_docx()))
    xml = source.read("word/document.xml").decode("utf-8")
    head, tail = xml.split("<w:body>", 1)[0] + "<w:body>", "</w:body></w:document>"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                zf.writestr(info, source.read(info))
        with zf.open("word/document.xml", "w") as f:
            f.write(head.encode("utf-8"))
            block = (PARAGRAPH * 1000).encode("utf-8")
            for _ in range(document_xml_parts // 1000):
                f.write(block)
            f.write(tail.encode("utf-8"))
        for i in range(extra_members):
            zf.writestr(f"customXml/extra{i}.xml", "<a/>")
    return out.getvalue()


@pytest.fixture
def no_docx_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if python-docx is asked to parse: the limits must refuse the file before."""
    import docx

    small_docx()  # the template the fixtures are built from

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the archive was parsed")

    monkeypatch.setattr(docx, "Document", refuse)


# -- compressed formats -------------------------------------------------------------------------


def test_a_zip_bomb_docx_is_refused_before_parsing(no_docx_parsing: None) -> None:
    bomb = docx_with(300_000)  # ~40 MB of paragraphs in a file of well under 1 MB
    assert len(bomb) < 1024 * 1024
    start = time.perf_counter()
    with pytest.raises(DocumentTooLargeError) as caught:
        read_bytes("bomb.docx", bomb, max_bytes=20 * 1024 * 1024)
    assert time.perf_counter() - start < 1.0
    message = str(caught.value)
    assert "\n" not in message
    assert re.fullmatch(
        r"bomb\.docx: expands to [\d.]+ MB, [\d,]+× its [\d.]+ KB, over the limit of [\d.]+ [MK]B "
        r"\(100× its size; setting max_expansion_ratio\)",
        message,
    ), message
    assert int(re.search(r"([\d,]+)×", message).group(1).replace(",", "")) > 100  # type: ignore[union-attr]


def test_the_absolute_expansion_cap_follows_the_size_limit(no_docx_parsing: None) -> None:
    bomb = docx_with(30_000)  # ~4 MB expanded
    with pytest.raises(DocumentTooLargeError, match=r"\(10× the size limit; setting max_document_bytes\)$"):
        read_bytes("bomb.docx", bomb, max_bytes=len(bomb) + 1, max_expansion_ratio=10_000)


def test_the_expansion_ratio_is_a_setting() -> None:
    data = docx_with(10_000)
    with pytest.raises(DocumentTooLargeError, match="setting max_expansion_ratio"):
        read_bytes("doc.docx", data, max_expansion_ratio=20)
    doc = read_bytes("doc.docx", data, max_expansion_ratio=5_000)
    assert doc.text.startswith("第一条 为规范个人养老金业务")


def test_archives_with_thousands_of_parts_are_refused(no_docx_parsing: None) -> None:
    data = docx_with(0, extra_members=2_100)
    with pytest.raises(
        DocumentTooLargeError, match=r"^many\.docx: the \.docx archive has 2,1\d\d parts, over the limit"
    ):
        read_bytes("many.docx", data)


def test_a_directory_that_understates_its_parts_is_refused_before_it_is_read(no_docx_parsing: None) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for i in range(40_000):
            zf.writestr(f"customXml/part{i:05d}.xml", b"")
    data = bytearray(out.getvalue())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = (1).to_bytes(2, "little") * 2  # the end record declares one member
    start = time.perf_counter()
    with pytest.raises(DocumentTooLargeError, match=r"^liar\.docx: the \.docx archive's list of parts takes [\d.]+ MB"):
        read_bytes("liar.docx", bytes(data))
    assert time.perf_counter() - start < 0.1


def test_declared_sizes_hold(tmp_path: Path) -> None:
    """A part that declares a small size but inflates to much more is read only as far as it declares."""
    data = bytearray(docx_with(100_000))
    name = b"word/document.xml"
    entry = data.find(b"PK\x01\x02")
    while data[entry + 46 : entry + 46 + len(name)] != name:
        entry = data.find(b"PK\x01\x02", entry + 4)
    data[entry + 24 : entry + 28] = (10_000).to_bytes(4, "little")  # uncompressed size in the central directory
    start = time.perf_counter()
    with pytest.raises(CorpusError, match=r"^liar\.docx: not a valid \.docx file") as caught:
        read_bytes("liar.docx", bytes(data))
    assert not isinstance(caught.value, DocumentTooLargeError)
    assert time.perf_counter() - start < 1.0


def test_ordinary_docx_files_pass_with_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.docx"
    path.write_bytes(small_docx())
    assert read_document(path).text == "第一条 为规范业务，制定本办法。\n"  # the old signature still works
    s = Settings()
    doc = read_document(
        path,
        max_bytes=s.max_document_bytes,
        max_chars=s.max_document_chars,
        max_expansion_ratio=s.max_expansion_ratio,
    )
    assert doc.format == "docx"


# -- extracted characters -----------------------------------------------------------------------


def test_extracted_text_over_the_character_limit_is_refused() -> None:
    text = "第一条 为规范业务，制定本办法。\n" * 100  # 1,700 characters
    assert read_bytes("ok.txt", text.encode("utf-8"), max_chars=len(text)).text.startswith("第一条")
    with pytest.raises(DocumentTooLargeError) as caught:
        read_bytes("long.txt", text.encode("gbk"), max_chars=1_000)
    assert str(caught.value) == (
        "long.txt: its text of 1,700 characters is over the limit of 1,000 (setting max_document_chars)"
    )


def test_the_character_limit_applies_to_what_a_docx_yields() -> None:
    data = docx_with(10_000)  # 370,000 characters of text
    assert len(data) < 200_000
    with pytest.raises(DocumentTooLargeError, match=r"^big\.docx: its text of 3[\d,]+ characters is over the limit"):
        read_bytes("big.docx", data, max_chars=100_000)


def test_a_pdf_is_refused_page_by_page() -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    for page in range(5):
        for line in range(40):
            c.drawString(40, 800 - 18 * line, f"Article {page * 40 + line + 1}. Banks shall keep records of loans.")
        c.showPage()
    c.save()
    with pytest.raises(DocumentTooLargeError) as caught:
        read_bytes("long.pdf", out.getvalue(), max_chars=2_500)
    message = str(caught.value)
    assert re.fullmatch(
        r"long\.pdf: its text of [\d,]+ characters in the first 2 of 5 pages is over the limit of 2,500 "
        r"\(setting max_document_chars\)",
        message,
    ), message


# -- chunks, in add_documents -------------------------------------------------------------------


def _settings(tmp_path: Path, **limits: int) -> Settings:
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", data_dir=tmp_path / "data", **limits)


def _articles(path: Path, n: int) -> Path:
    path.write_text("\n".join(f"第{i}条 第{i}项规定的内容。" for i in range(1, n + 1)) + "\n", encoding="utf-8")
    return path


def test_documents_over_the_chunk_limit_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    s = _settings(tmp_path, max_document_chunks=10)
    ok, many = _articles(tmp_path / "ok.txt", 10), _articles(tmp_path / "many.txt", 30)
    with pytest.raises(DocumentTooLargeError) as caught:
        add_documents([ok, many], s, update_index=False, log=lambda _: None)
    assert str(caught.value) == "many.txt: its 30 chunks are over the limit of 10 (setting max_document_chunks)"
    assert not list(s.corpus_dir.iterdir())  # all or nothing: the good file was not written either
    assert [r.chunks for r in add_documents([ok], s, update_index=False, log=lambda _: None)] == [10]


def test_add_documents_applies_the_character_and_expansion_settings(tmp_path: Path) -> None:
    s = _settings(tmp_path, max_document_chars=100)
    with pytest.raises(DocumentTooLargeError, match=r"^many\.txt: .*\(setting max_document_chars\)$"):
        add_documents([_articles(tmp_path / "many.txt", 30)], s, update_index=False, log=lambda _: None)
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(docx_with(30_000))
    with pytest.raises(DocumentTooLargeError, match=r"^bomb\.docx: expands to .*setting max_expansion_ratio\)$"):
        add_documents([bomb], _settings(tmp_path, max_expansion_ratio=20), update_index=False, log=lambda _: None)


def test_limit_settings_have_defaults_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert (s.max_document_chars, s.max_document_chunks, s.max_expansion_ratio) == (2_000_000, 20_000, 100)
    monkeypatch.setenv("ASSISTANT_MAX_DOCUMENT_CHUNKS", "500")
    monkeypatch.setenv("ASSISTANT_CONFIG", "/nonexistent/assistant.toml")
    assert Settings.load(max_document_chars="1000").max_document_chars == 1000
    assert Settings.load().max_document_chunks == 500
