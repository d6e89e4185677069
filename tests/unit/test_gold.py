from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.errors import GoldSetError
from assistant.evaluation.gold import load_gold
from tests.conftest import EVAL


def _known() -> set[str]:
    return {json.loads(line)["_id"] for line in (EVAL / "corpus.jsonl").read_text(encoding="utf-8").splitlines()}


def test_the_gold_set_is_valid_and_covers_every_clause() -> None:
    gold = load_gold(EVAL, _known())
    for lang in ("zh", "en"):
        assert len([q for q in gold.questions("all") if q.language == lang]) >= 50
    assert len(gold.questions("all")) >= 120 and len(gold.questions("all", in_corpus=False)) >= 20
    answered = {c for q in gold.questions("all") for c, g in q.relevant.items() if g == 2}
    numbered = {c for c in _known() if c.count(".") >= 1}  # （一）…（二十五） and 一是… sub-points
    assert numbered <= answered
    assert any(g == 1 for q in gold.questions("all") for g in q.relevant.values())  # graded relevance


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "eval"
    shutil.copytree(EVAL, dest, ignore=shutil.ignore_patterns("reports"))
    return dest


def _append(path: Path, line: str) -> int:
    text = path.read_text(encoding="utf-8")
    path.write_text(text + line + "\n", encoding="utf-8")
    return text.count("\n") + 1


@pytest.mark.parametrize(
    ("file", "line", "message"),
    [
        (
            "queries.jsonl",
            '{"_id": "zh-001", "text": "重复", "metadata": {"language": "zh", "split": "dev"}}',
            "duplicate question id zh-001",
        ),
        (
            "queries.jsonl",
            '{"_id": "zh-999", "text": "  ", "metadata": {"language": "zh", "split": "dev"}}',
            "question zh-999 is empty",
        ),
        ("queries.jsonl", '{"_id": "zh-998", "text": "broken', "malformed JSON"),
        ("qrels/dev.tsv", "zh-001\tcbirc-2023-shandong:九.九十\t2", "unknown clause id cbirc-2023-shandong:九.九十"),
        ("qrels/dev.tsv", "zz-404\tcbirc-2023-shandong:四.十一\t2", "unknown question id zz-404"),
        ("qrels/test.tsv", "zh-001\tcbirc-2023-shandong:四.十一\t2", "is in split dev, not test"),
    ],
)
def test_bad_gold_data_names_file_and_line(tmp_path: Path, file: str, line: str, message: str) -> None:
    folder = _copy(tmp_path)
    line_no = _append(folder / file, line)
    with pytest.raises(GoldSetError) as err:
        load_gold(folder, _known())
    assert f"{folder / file}:{line_no}: " in str(err.value) and message in str(err.value)


def test_missing_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(GoldSetError, match=r"queries\.jsonl: missing"):
        load_gold(tmp_path)
