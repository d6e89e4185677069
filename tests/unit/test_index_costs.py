"""What an add costs as the library grows, counted (not timed): an add reads, normalises and
fingerprints only its own document and writes a small record of the change, whatever the library's
size; a view whose exact text is already in the index is not embedded again; the tiered merge
policy keeps the segment count logarithmic, and readers keep searching while segments merge."""

from __future__ import annotations

import math
import random
import threading
from pathlib import Path

import pytest

import assistant.ingest.content_keys as keys_module
import assistant.ingest.corpus as corpus_module
import assistant.ingest.manage as manage
import assistant.store.segments as segments
from assistant.embedding.stub import KeywordEmbedder
from assistant.indexing import update_index
from assistant.ingest.manage import add_documents, import_files
from assistant.retrieval import Retriever
from assistant.store.merge_policy import next_merge, segment_bound, tier
from assistant.store.segments import read_manifest
from assistant.text.numerals import int_to_cn
from assistant.tuning import Tuning
from tests.unit.conftest import build, quiet, stub_settings_for, stub_tuning


class CountingEmbedder(KeywordEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed_passages(self, texts, *, progress: bool = False):
        self.texts.extend(texts)
        return super().embed_passages(texts)


def _law(name: str, articles: int, changed: frozenset[int] = frozenset()) -> str:
    lines = [f"{name}管理办法"]
    for n in range(1, articles + 1):
        extra = "，并按季度报告" if n in changed else ""
        lines.append(f"第{int_to_cn(n)}条 {name}机构应当履行第{n}项义务{extra}。")
    return "\n".join(lines) + "\n"


def _library(root: Path, documents: int):
    """A library of ``documents`` laws, imported and indexed as a user's bulk import does."""
    files = root / "files"
    files.mkdir(parents=True)
    for i in range(documents):
        (files / f"law-{i:03d}.txt").write_text(_law(f"第{i}类", 3), encoding="utf-8")
    settings = stub_settings_for(root)
    import_files([(p, None) for p in sorted(files.iterdir())], settings, update_index=False, log=quiet)
    build(settings)
    return settings


def _work_of_one_add(root: Path, documents: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    settings = _library(root, documents)
    new = root / "new-rules.txt"
    new.write_text(_law("新增", 4), encoding="utf-8")
    work = {"normalised": 0, "read": 0, "fingerprinted": 0, "bytes_written": 0}

    def counted(name, fn, size=None):
        def wrapper(*args, **kwargs):
            work[name] += size(*args) if size else 1
            return fn(*args, **kwargs)

        return wrapper

    with monkeypatch.context() as m:
        for module in (manage, keys_module):
            m.setattr(module, "content_key", counted("normalised", module.content_key))
            m.setattr(module, "read_utf8", counted("read", module.read_utf8))
        m.setattr(corpus_module, "read_utf8", counted("read", corpus_module.read_utf8))
        m.setattr(corpus_module.Document, "fingerprint", counted("fingerprinted", corpus_module.Document.fingerprint))
        for module in (segments, manage, keys_module):
            for fn in ("write_text", "write_json"):
                if hasattr(module, fn):
                    m.setattr(module, fn, counted("bytes_written", getattr(module, fn), lambda _p, o: len(str(o))))
        [result] = add_documents([new], settings, embedder=KeywordEmbedder(), log=quiet)
    assert result.action == "added"
    return work


def test_an_add_costs_the_same_at_ten_times_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = _work_of_one_add(tmp_path / "small", 6, monkeypatch)
    large = _work_of_one_add(tmp_path / "large", 60, monkeypatch)
    assert small["normalised"] == large["normalised"] == 1  # the new document's content key only
    assert small["fingerprinted"] == large["fingerprinted"] == 1
    assert small["read"] == large["read"] <= 2
    # The generation written names the documents snapshot and carries the one new entry, not all 62.
    assert 0 < large["bytes_written"] <= small["bytes_written"] * 1.1


def test_a_hand_edit_is_seen_by_the_next_add(tmp_path: Path) -> None:
    settings = _library(tmp_path, 3)
    # A file copied in by hand, with the content of a document being added: the duplicate is found.
    (settings.corpus_dir / "copied.txt").write_text(_law("手工", 2), encoding="utf-8")
    new = tmp_path / "again.txt"
    new.write_text(_law("手工", 2), encoding="utf-8")
    with pytest.raises(manage.DuplicateDocumentError, match="'copied'"):
        add_documents([new], settings, embedder=KeywordEmbedder(), log=quiet)


def test_a_new_version_embeds_only_its_changed_clauses(tmp_path: Path) -> None:
    settings = stub_settings_for(tmp_path)
    first, second = tmp_path / "banfa-2016.txt", tmp_path / "banfa-2023.txt"
    first.write_text(_law("证券", 20), encoding="utf-8")
    second.write_text(_law("证券", 20, frozenset({3, 11})), encoding="utf-8")
    embedder = CountingEmbedder()
    add_documents([first], settings, embedder=embedder, log=quiet)
    assert len(embedder.texts) == 21  # the title and 20 articles
    embedder.texts.clear()
    add_documents([second], settings, embedder=embedder, log=quiet)
    assert sorted(t.split("\n")[0] for t in embedder.texts) == ["第三条", "第十一条"]
    # The reused vectors are the stored ones: both versions' unchanged articles search alike (every
    # version searched and not folded, else the one in force hides the older one).
    r = Retriever.load(settings=settings, embedder=KeywordEmbedder(), tuning=stub_tuning())
    hits = r.search("证券机构应当履行第7项义务", k=2, mode="dense", include_superseded=True, fold=False)
    assert {h.doc_id for h in hits} == {"banfa-2016", "banfa-2023"} and hits[0].score == pytest.approx(hits[1].score)


def test_identical_texts_in_one_batch_are_embedded_once(tmp_path: Path) -> None:
    settings = stub_settings_for(tmp_path)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text(_law("保险", 5), encoding="utf-8")
    (tmp_path / "corpus" / "b.txt").write_text(_law("保险", 5, frozenset({2})), encoding="utf-8")
    embedder = CountingEmbedder()
    report = update_index(settings, embedder=embedder, progress=False, log=quiet)
    assert report.embedded_rows == len(embedder.texts) == len(set(embedder.texts)) == 7


# -- the tiered merge policy ------------------------------------------------------------------------


def _settle(sizes: list[int], floor: int, per_tier: int) -> tuple[list[int], int]:
    merged = 0
    while (group := next_merge(sizes, floor=floor, per_tier=per_tier)) is not None:
        sizes = [s for i, s in enumerate(sizes) if i not in group] + [sum(sizes[i] for i in group)]
        merged += sum(sizes[-1:])
    return sizes, merged


@pytest.mark.parametrize(("floor", "per_tier"), [(2000, 4), (100, 10), (1, 2)])
def test_the_segment_count_stays_logarithmic(floor: int, per_tier: int) -> None:
    rng = random.Random(7)
    sizes: list[int] = []
    written = 0
    for step in range(3000):
        new = rng.choice([rng.randint(20, 400), rng.randint(20, 400), 50000 if step % 97 == 0 else 300])
        sizes, merged = _settle([*sizes, new], floor, per_tier)
        written += new + merged
        total = sum(sizes)
        assert len(sizes) <= segment_bound(total, floor=floor, per_tier=per_tier), (step, sizes)
    # Logarithmic: far fewer segments than adds, and each row is rewritten at most about
    # log(total / smallest segment) times.
    assert len(sizes) <= (per_tier - 1) * (tier(sum(sizes), floor=floor, per_tier=per_tier) + 1) < 60
    assert written <= sum(sizes) * (math.log(sum(sizes) / 20, per_tier) + 2)


def test_a_full_tier_is_merged_smallest_first() -> None:
    assert next_merge([100, 900, 300, 200, 50, 60_000], floor=1000, per_tier=4) == [0, 2, 3, 4]
    assert next_merge([5000, 6000, 7000], floor=1000, per_tier=4) is None
    assert next_merge([], floor=1000, per_tier=4) is None
    with pytest.raises(ValueError):
        next_merge([1], floor=1000, per_tier=1)


def test_adds_keep_the_index_within_the_bound(tmp_path: Path) -> None:
    settings = stub_settings_for(tmp_path)
    tuning = Tuning.load().replace(merge_floor_rows=4, merge_segments_per_tier=3)
    for i in range(12):
        (tmp_path / f"n-{i}.txt").write_text(_law(f"第{i}号", 2), encoding="utf-8")
        report = build_one(settings, tmp_path / f"n-{i}.txt", tuning)
        bound = segment_bound(report.row_count, floor=4, per_tier=3)
        assert report.segments <= bound, (i, report.segments)
    assert len(read_manifest(settings.index_dir).documents) == 12


def build_one(settings, path: Path, tuning: Tuning):
    import shutil

    settings.corpus_dir.mkdir(exist_ok=True)
    shutil.copyfile(path, settings.corpus_dir / path.name)
    return update_index(settings, embedder=KeywordEmbedder(), progress=False, log=quiet, tuning=tuning)


def test_readers_keep_searching_while_segments_merge(tmp_path: Path) -> None:
    settings = stub_settings_for(tmp_path)
    no_merges = Tuning.load().replace(merge_segments_per_tier=1000)
    for i in range(8):
        build_one(settings, _write(tmp_path, f"m-{i}.txt", _law(f"第{i}号", 3)), no_merges)
    assert len(read_manifest(settings.index_dir).segments) == 8
    reader = Retriever.load(settings=settings, embedder=KeywordEmbedder(), tuning=stub_tuning())
    questions = [f"第{i}号机构应当履行第2项义务" for i in range(8)]
    expected = {q: [h.clause_id for h in reader.search(q, k=3)] for q in questions}
    stop, seen, errors = threading.Event(), [], []

    def search() -> None:
        while not stop.is_set():
            try:
                for q in questions:
                    seen.append([h.clause_id for h in reader.search(q, k=3)] == expected[q])
            except Exception as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=search)
    thread.start()
    try:
        merging = Tuning.load().replace(merge_floor_rows=2, merge_segments_per_tier=2)
        report = build_one(settings, _write(tmp_path, "m-last.txt", _law("最后", 3)), merging)
    finally:
        stop.set()
        thread.join()
    assert not errors and seen and all(seen)
    assert report.segments < 9  # merged while the reader searched its own generation
    after = reader.reloaded(settings)
    assert {q: [h.clause_id for h in after.search(q, k=3)] for q in questions} == expected


def _write(root: Path, name: str, text: str) -> Path:
    (root / name).write_text(text, encoding="utf-8")
    return root / name
