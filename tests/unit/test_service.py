"""The service facade every interface goes through: one set of limits, and uploads (size checked
while copying, a private folder removed whatever happens, equal names kept apart)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from assistant.answering import Answerer, LiveAnswerer
from assistant.errors import CorpusError, DocumentNotFoundError, DocumentTooLargeError, InvalidQueryError
from assistant.service import LIMITS, Limits, Service, Upload, clean_uploads, copy_limited, safe_filename
from tests.conftest import ORIGINAL, YELLOW_RIVER

NOTICE = (
    "关于金融支持湿地保护的通知\n\n一、总体要求\n"
    "（一）加强湿地保护金融支持。引导银行机构为湿地修复项目提供中长期贷款。\n"
)


@pytest.fixture
def service(own_index, own_retriever) -> Service:
    return Service.over(Answerer(own_retriever, own_index), own_index)


@pytest.fixture(scope="module")
def reader(stub_answerer, stub_settings) -> Service:
    """A service over the shared stand-in index, for tests that only read."""
    return Service.over(stub_answerer, stub_settings)


def uploads_left(service: Service) -> list[Path]:
    root = Path(service.settings.data_dir) / "uploads"
    return sorted(root.iterdir()) if root.is_dir() else []


# -- limits -------------------------------------------------------------------------------------------


def test_one_set_of_limits() -> None:
    assert Limits(max_k=50, max_question_chars=2000, max_history=20, max_doc_ids=100) == LIMITS


@pytest.mark.parametrize("k", [1, 5, 50])
def test_k_in_range_is_accepted(reader, k: int) -> None:
    assert reader.check_k(k) == k
    assert len(reader.search("绿色金融", k)) == k


@pytest.mark.parametrize("k", [0, -3, 51, 500, True, "5", 2.0, None])
def test_k_out_of_range_is_refused_everywhere(reader, k) -> None:
    with pytest.raises(InvalidQueryError, match="k must be a whole number from 1 to 50"):
        reader.search("绿色金融", k)
    with pytest.raises(InvalidQueryError, match="from 1 to 50"):
        reader.ask("绿色金融", k=k)


def test_other_limits(reader) -> None:
    with pytest.raises(InvalidQueryError, match="at most 100 document ids"):
        reader.search("绿色金融", doc_ids=[f"d{i}" for i in range(101)])
    with pytest.raises(InvalidQueryError, match="at most 20 earlier questions"):
        reader.ask("那保险呢？", history=["绿色金融"] * 21)
    with pytest.raises(InvalidQueryError, match="unknown retrieval mode"):
        reader.search("绿色金融", mode="fuzzy")
    with pytest.raises(InvalidQueryError, match="history entry"):
        reader.ask("那保险呢？", history=["?"])
    for bad in ("", "？", "\x00", "\u200f\u200e", "x" * 2001):
        with pytest.raises(InvalidQueryError):
            reader.search(bad)
        with pytest.raises(InvalidQueryError):
            reader.ask(bad)
    assert reader.check_doc_ids([]) is None and reader.check_doc_ids(("a",)) == ["a"]


def test_reading_through_the_service(reader) -> None:
    assert reader.search("哪些措施支持黄河流域的生态保护？", 3)[0].clause_id == YELLOW_RIVER
    assert reader.ask("哪些措施支持黄河流域的生态保护？").citations[0].hit.clause_id == YELLOW_RIVER
    assert reader.clause(YELLOW_RIVER).rank == 0
    assert [d["doc_id"] for d in reader.documents()] == list(ORIGINAL)
    health = reader.health()
    assert health == {
        "status": "ok",
        "model": "stub/keywords-256",
        "dim": 256,
        "documents": 2,
        "chunk_count": 55,
        "index_built_at": reader.retriever.index.manifest.built_at,
        "generative": False,
    }
    assert reader.search("Which measures support Yellow River ecology?", 3, translations=True)[0].clause_id == (
        YELLOW_RIVER
    )


def test_over_accepts_a_retriever_an_answerer_or_a_live_answerer(stub_retriever, stub_answerer, stub_settings) -> None:
    live = LiveAnswerer(stub_answerer, stub_settings)
    assert Service.over(live, stub_settings).live is live
    assert Service.over(stub_answerer, stub_settings).answerer is stub_answerer
    assert Service.over(stub_retriever, stub_settings).retriever is stub_retriever


# -- uploads ------------------------------------------------------------------------------------------


def test_an_upload_is_added_searchable_and_removed(service) -> None:
    results = service.add(
        [Upload("wetlands.txt", io.BytesIO(NOTICE.encode()))], doc_id="wetland", meta={"issuer": "某局"}
    )
    assert [(r.doc_id, r.action, r.issuer, r.file) for r in results] == [("wetland", "added", "某局", "wetlands.txt")]
    hits = service.search("湿地修复项目中长期贷款", 2)
    assert hits[0].doc_id == "wetland"  # the index was reloaded
    assert uploads_left(service) == []  # the private upload folder is gone
    service.remove("wetland")
    assert "wetland" not in {d["doc_id"] for d in service.documents()}
    with pytest.raises(DocumentNotFoundError):
        service.remove("wetland")


def test_an_upload_from_a_path_keeps_its_own_name(service, tmp_path) -> None:
    path = tmp_path / "Wetland Notice.txt"
    path.write_text(NOTICE, encoding="utf-8")
    (result,) = service.add([Upload("C:\\Users\\me\\Wetland Notice.txt", path)])
    assert result.doc_id == "wetland-notice" and result.file == "Wetland Notice.txt"
    assert path.read_text(encoding="utf-8") == NOTICE  # the source is only read


def test_size_limit_is_checked_while_copying(tmp_path) -> None:
    class Endless(io.RawIOBase):
        """A stream that never ends (a client sending forever)."""

        reads = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            Endless.reads += 1
            return b"x" * (n if n and n > 0 else 1 << 20)

    with pytest.raises(DocumentTooLargeError, match=r"^big\.txt: over the size limit of 2\.5 MB"):
        copy_limited(Endless(), tmp_path / "big.txt", int(2.5 * 2**20))
    assert Endless.reads == 3  # stopped at the first read past the limit
    assert (tmp_path / "big.txt").stat().st_size <= int(2.5 * 2**20)
    copy_limited(io.BytesIO(b"abc"), tmp_path / "small.txt", 3)  # exactly the limit is fine
    assert (tmp_path / "small.txt").read_bytes() == b"abc"


def test_an_upload_over_the_limit_adds_nothing_and_leaves_nothing(service) -> None:
    small = Service(service.settings.replace(max_document_bytes=100), service.live)
    before = sorted(p.name for p in Path(small.settings.corpus_dir).iterdir())
    with pytest.raises(DocumentTooLargeError, match="over the size limit"):
        small.add([Upload("ok.txt", io.BytesIO(b"x" * 10)), Upload("big.txt", io.BytesIO(b"x" * 101))])
    assert sorted(p.name for p in Path(small.settings.corpus_dir).iterdir()) == before
    assert uploads_left(small) == []


def test_the_upload_folder_is_removed_even_when_adding_fails(service, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CorpusError, match="no files given"):
        service.add([])
    with pytest.raises(CorpusError, match="not supported"):
        service.add([Upload("notes.xlsx", io.BytesIO(b"PK\x03\x04"))])
    with pytest.raises(CorpusError, match="empty file"):
        service.add([Upload("empty.txt", io.BytesIO(b""))])
    seen: list[Path] = []

    def crash(paths, *args, **kwargs):
        seen.extend(paths)
        assert all(p.is_file() for p in paths)
        raise RuntimeError("the disk went away")

    monkeypatch.setattr("assistant.ingest.manage.add_documents", crash)
    with pytest.raises(RuntimeError, match="disk went away"):
        service.add([Upload("wetlands.txt", io.BytesIO(NOTICE.encode()))])
    assert seen and not any(p.exists() for p in seen)
    assert uploads_left(service) == []
    assert {d["doc_id"] for d in service.documents()} == set(ORIGINAL)


def test_uploads_with_the_same_unusable_name_do_not_replace_each_other(service, monkeypatch) -> None:
    first, second = NOTICE.encode(), NOTICE.replace("湿地", "草原").encode()
    copies: list[tuple[Path, bytes]] = []

    import assistant.ingest.manage as manage

    real = manage.add_documents

    def spy(paths, *args, **kwargs):
        copies.extend((p, p.read_bytes()) for p in paths)
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(manage, "add_documents", spy)
    with pytest.raises(CorpusError, match="same document id 'upload'"):
        service.add([Upload("..", io.BytesIO(first)), Upload("", io.BytesIO(second))])
    assert [p.name for p, _ in copies] == ["upload.txt", "upload.txt"]
    assert copies[0][0] != copies[1][0] and [data for _, data in copies] == [first, second]  # both kept, apart
    assert "upload" not in {d["doc_id"] for d in service.documents()}  # all or nothing
    (added,) = service.add([Upload("../../", io.BytesIO(second))], doc_id="grassland")
    assert added.doc_id == "grassland" and uploads_left(service) == []


def test_concurrent_uploads_use_their_own_folders(service) -> None:
    results: dict[str, list] = {}
    errors: list[BaseException] = []

    def upload(name: str, text: str) -> None:
        try:
            results[name] = service.add([Upload("../same.txt", io.BytesIO(text.encode()))], doc_id=name)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=upload, args=(f"doc-{n}", NOTICE.replace("湿地", f"第{n}类湿地"))) for n in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(results) == ["doc-0", "doc-1", "doc-2"]
    assert {d["doc_id"] for d in service.documents()} >= set(results)
    assert uploads_left(service) == []


def test_leftover_upload_folders_are_cleaned_unless_in_use(own_index) -> None:
    import fcntl

    root = Path(own_index.data_dir) / "uploads"
    (root / "upload-dead").mkdir(parents=True)
    (root / "upload-dead" / "0").mkdir()
    (root / "upload-dead" / "0" / "x.txt").write_text("left by a killed process")
    (root / "upload-busy").mkdir()
    (root / "other").mkdir()
    with open(root / "upload-busy" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert clean_uploads(own_index) == 1
    assert sorted(p.name for p in root.iterdir()) == ["other", "upload-busy"]
    assert clean_uploads(own_index) == 1 and sorted(p.name for p in root.iterdir()) == ["other"]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\a\\政策 文件.docx", "政策 文件.docx"),
        ("..", "upload.txt"),
        (None, "upload.txt"),
        ("", "upload.txt"),
        ("a/b/", "upload.txt"),
        ("nul\0byte.txt", "nulbyte.txt"),
    ],
)
def test_upload_names_lose_their_folders_only(name, safe: str) -> None:
    assert safe_filename(name) == safe


def test_long_upload_names_are_cut_keeping_the_extension() -> None:
    long = safe_filename("长" * 300 + ".pdf")
    assert long.endswith("长.pdf") and len(long.encode()) <= 200


# -- what a write may change ----------------------------------------------------------------------------


def test_built_in_documents_are_protected_unless_allowed(service) -> None:
    from assistant.errors import AccessDeniedError

    assert service.protected() == frozenset(ORIGINAL)
    with pytest.raises(AccessDeniedError, match="built-in document"):
        service.remove("sz-2025-reform")
    copy = (Path(service.settings.corpus_dir) / "sz-2025-reform.txt").read_bytes() + "\n补充一句。\n".encode()
    with pytest.raises(AccessDeniedError):
        service.add([Upload("sz.txt", io.BytesIO(copy))], doc_id="sz-2025-reform", replace=True)
    assert {d["doc_id"] for d in service.documents()} == set(ORIGINAL)
    allowed = Service(service.settings.replace(allow_builtin_changes=True), service.live)
    assert allowed.protected() == frozenset()
    allowed.remove("sz-2025-reform")
    assert [d["doc_id"] for d in allowed.documents()] == ["cbirc-2023-shandong"]


def test_other_content_under_an_existing_id_is_replaced_only_on_request(service) -> None:
    from assistant.errors import DocumentExistsError

    service.add([Upload("wetlands.txt", io.BytesIO(NOTICE.encode()))], doc_id="wetland")
    revised = NOTICE.replace("中长期贷款", "中长期贷款和绿色债券").encode()
    with pytest.raises(DocumentExistsError, match="replace"):
        service.add([Upload("wetlands.txt", io.BytesIO(revised))], doc_id="wetland")
    (same,) = service.add([Upload("wetlands.txt", io.BytesIO(NOTICE.encode()))], doc_id="wetland")
    assert same.action == "unchanged"
    (updated,) = service.add([Upload("wetlands.txt", io.BytesIO(revised))], doc_id="wetland", replace=True)
    assert updated.action == "updated" and "绿色债券" in service.clause("wetland:一.一").text
    assert uploads_left(service) == []


def test_writes_need_the_token_when_one_is_set(service) -> None:
    from assistant.errors import AccessDeniedError, AuthenticationError

    guarded = Service(service.settings.replace(api_token="s3cret"), service.live)
    upload = [Upload("wetlands.txt", io.BytesIO(NOTICE.encode()))]
    for token in (None, "", "wrong", "s3cret "):
        with pytest.raises(AuthenticationError, match="API token"):
            guarded.add(upload, token=token)
        with pytest.raises(AuthenticationError):
            guarded.remove("wetland", token=token)
    assert uploads_left(guarded) == []
    assert guarded.add([Upload("wetlands.txt", io.BytesIO(NOTICE.encode()))], token="s3cret")[0].action == "added"
    guarded.remove("wetlands", token="s3cret")
    # Beyond loopback, writes are off without a token; reading is unaffected.
    exposed = Service(service.settings, service.live)
    exposed.expose("0.0.0.0")
    assert not exposed.writes_enabled
    with pytest.raises(AccessDeniedError, match="ASSISTANT_API_TOKEN"):
        exposed.add([Upload("wetlands.txt", io.BytesIO(NOTICE.encode()))])
    assert exposed.search("绿色金融", 1)
    exposed.expose("127.0.0.1")
    assert exposed.writes_enabled
