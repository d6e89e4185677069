"""Document ids from file names: readable pinyin for Chinese names, unique, stable, at most 64 characters.

Pure functions, plus ``add_documents(..., update_index=False)`` for the ids settled against the
corpus (no embedding model is loaded).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from assistant.errors import DocumentExistsError
from assistant.ingest.manage import AddPolicy, add_documents, doc_id_for
from assistant.settings import Settings

DOC_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
LIBRARY = Path("/work/shared/library")


@pytest.mark.parametrize(
    ("name", "doc_id"),
    [
        ("CBIRC Notice (2023).docx", "cbirc-notice-2023"),
        ("green_credit.v2.pdf", "green_credit.v2"),
        ("证券法(2019-12-28).md", "zhengquanfa-2019-12-28"),
        ("关于个人养老金的通知.pdf", "gygryljdtz"),
        ("NFRA通知2024.pdf", "nfra-tongzhi-2024"),
        ("（2024）个人 养老金 通知!.txt", "2024-geren-yanglaojin-tongzhi"),
        ("中国人民银行法.txt", "zhongguorenminyinhangfa"),  # 银行: yinhang, read in context
        ("重庆市港口条例.txt", "cqsgktl"),  # 25 letters in full: initials
        ("最高人民法院关于适用《保险法》若干问题的解释（三）(2020-12-29).md", "zgrmfygysy-bxf-rgwtdjs-san-2020-12-29"),
        ("Положение о банке.pdf", "doc-8f78fdbc"),  # no ASCII form: a hash, as before
        ("Закон 2024.txt", "2024-5769a7d4"),
    ],
)
def test_examples(name: str, doc_id: str) -> None:
    assert doc_id_for(name) == doc_id
    assert DOC_ID.fullmatch(doc_id)


def test_stable_for_the_same_name() -> None:
    name = "关于加强商业银行互联网贷款业务管理的通知（2020）.docx"
    first = doc_id_for(name)
    assert [doc_id_for(name) for _ in range(3)] == [first] * 3
    assert doc_id_for(unicodedata.normalize("NFD", name)) == first  # macOS file names come decomposed
    assert doc_id_for(name.replace(".docx", ".pdf")) == first  # another format of the same document
    assert doc_id_for(name.replace("（2020）", "(2020)")) == first


def test_near_names_get_different_ids() -> None:
    names = [
        "证券法(2019-12-28).md",
        "证券法(2014-08-31).md",
        "证券法实施条例.md",
        "关于个人养老金的通知.pdf",
        "关于个人养老金的通告.pdf",
        "关于个人养老金的通知（二）.pdf",
        "关于个人养老金的通知(2).pdf",
        "最高人民法院关于适用《保险法》若干问题的解释（三）(2020-12-29).md",
        "最高人民法院关于适用《保险法》若干问题的解释（四）(2020-12-29).md",
        "个人养老金通知.txt",
        "个人养老金通知2.txt",
    ]
    ids = [doc_id_for(n) for n in names]
    assert len(set(ids)) == len(names), ids


def test_length_is_capped_with_a_hash() -> None:
    long_zh = "关于" + "进一步加强和改进个人养老金业务" * 8 + "的通知"
    a, b = doc_id_for(long_zh + "（一）.pdf"), doc_id_for(long_zh + "（二）.pdf")
    assert a != b
    for doc_id in (a, b, doc_id_for("银行" * 200 + ".txt"), doc_id_for("个人养老金 Notice " * 20 + ".txt")):
        assert DOC_ID.fullmatch(doc_id) and len(doc_id) <= 64
        assert re.search(r"-[0-9a-f]{8}$", doc_id)
    assert doc_id_for("x" * 80 + ".txt") == "x" * 64  # ASCII names are cut as before, without a hash


@pytest.mark.parametrize(
    "name", ["!!!.txt", "《》.pdf", "〇.txt", "𪛗𪛗.txt", "a\u0301b.txt", "٣٤.txt", ".txt", "-_-.md"]
)
def test_odd_names_still_give_valid_ids(name: str) -> None:
    assert DOC_ID.fullmatch(doc_id_for(name))


@pytest.mark.skipif(not LIBRARY.is_dir(), reason="the shared library is not here")
def test_every_library_name_gives_a_valid_id() -> None:
    names = sorted({p.name for p in LIBRARY.rglob("*.md") if p.name != "README.md"})
    ids: dict[str, str] = {}
    for name in names:
        doc_id = doc_id_for(name)
        assert DOC_ID.fullmatch(doc_id), name
        ids.setdefault(doc_id, name)
    # Only names spelled alike by initials meet (河道 / 航道: hd); add_documents tells them apart.
    assert len(names) - len(ids) <= 3


# -- ids settled against the corpus -------------------------------------------------------------

BODY = "第一条 为规范{0}，制定本办法。\n第二条 本办法自发布之日起施行。\n"


def _settings(tmp_path: Path) -> Settings:
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", data_dir=tmp_path / "data")


def _file(folder: Path, name: str, topic: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"{Path(name).stem}\n" + BODY.format(topic), encoding="utf-8")
    return path


def test_names_that_spell_alike_get_distinct_ids_and_keep_them(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    first = add_documents([_file(tmp_path / "in", "通知.txt", "通知业务")], s, update_index=False, log=lambda _: None)
    second = add_documents([_file(tmp_path / "in", "统治.txt", "统治业务")], s, update_index=False, log=lambda _: None)
    assert first[0].doc_id == "tongzhi"
    assert re.fullmatch(r"tongzhi-[0-9a-f]{8}", second[0].doc_id)
    assert any("--doc-id" in w for w in second[0].warnings)
    revision = _file(tmp_path / "in2", "统治.txt", "统治业务的修订")
    with pytest.raises(DocumentExistsError, match="--replace"):  # other content under the same id: only on request
        add_documents([revision], s, update_index=False, log=lambda _: None)
    again = add_documents([revision], s, update_index=False, log=lambda _: None, policy=AddPolicy(replace=True))
    assert (again[0].doc_id, again[0].action) == (second[0].doc_id, "updated")
    md = add_documents(
        [_file(tmp_path / "in3", "通知.md", "通知业务的修订")],
        s,
        update_index=False,
        log=lambda _: None,
        policy=AddPolicy(replace=True),
    )
    assert (md[0].doc_id, md[0].action) == ("tongzhi", "updated")  # same name, another format


def test_alike_names_in_one_call(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    files = [_file(tmp_path / "in", "通知.txt", "通知业务"), _file(tmp_path / "in", "统治.txt", "统治业务")]
    ids = [r.doc_id for r in add_documents(files, s, update_index=False, log=lambda _: None)]
    assert ids[0] == "tongzhi" and ids[1].startswith("tongzhi-") and len(set(ids)) == 2


def test_documents_added_under_the_old_hashed_id_keep_it(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    name = "关于个人养老金的通知.txt"
    old = add_documents(
        [_file(tmp_path / "in", name, "养老金")], s, doc_id="doc-39f66998", update_index=False, log=lambda _: None
    )
    assert old[0].doc_id == "doc-39f66998"  # what versions before pinyin made of this name
    revised = add_documents(
        [_file(tmp_path / "in2", name, "养老金业务")],
        s,
        update_index=False,
        log=lambda _: None,
        policy=AddPolicy(replace=True),
    )
    assert (revised[0].doc_id, revised[0].action) == ("doc-39f66998", "updated")
    assert sorted(p.name for p in s.corpus_dir.glob("*.txt")) == ["doc-39f66998.txt"]
