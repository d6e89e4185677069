"""The command line in-process: argument handling, validation before any model loads, exit codes,
and the commands over the stand-in index (the real CLI in subprocesses: integration)."""

from __future__ import annotations

import io
import json
import socket
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from assistant.embedding.stub import KeywordEmbedder, KeywordPairScorer
from assistant.interfaces.cli import _COMMANDS, app_main, build_parser, main
from tests.conftest import YELLOW_RIVER
from tests.unit.conftest import STUB_MODEL, stub_tuning

COMMANDS = {"index", "search", "ask", "show", "add", "remove", "translate", "list", "app", "serve", "feedback", "eval"}


@pytest.fixture
def stub_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The CLI loads the stand-in embedder and reranker, with answer thresholds for them (a tuning file)."""
    import assistant.indexing
    import assistant.retrieval.retriever

    def load(settings):
        assert settings.model == STUB_MODEL
        return KeywordEmbedder()

    monkeypatch.setattr(assistant.retrieval.retriever, "load_embedder", load)
    monkeypatch.setattr(assistant.retrieval.retriever, "load_reranker", lambda *_: KeywordPairScorer())
    monkeypatch.setattr(assistant.indexing, "load_embedder", load)
    tuning = tmp_path / "tuning.toml"
    tuning.write_text(stub_tuning().to_toml(), encoding="utf-8")
    for var in ("ASSISTANT_CONFIG", "ASSISTANT_INDEX_DIR", "ASSISTANT_CORPUS_DIR", "ASSISTANT_LLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASSISTANT_TUNING", str(tuning))
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))
    return tuning


def dirs(settings) -> list[str]:
    return ["--corpus-dir", str(settings.corpus_dir), "--index-dir", str(settings.index_dir), "--model", STUB_MODEL]


# -- arguments ------------------------------------------------------------------------------------


def test_every_command_is_registered_and_parsed() -> None:
    parser = build_parser()
    assert set(_COMMANDS) == COMMANDS
    history = ["--history", "黄河流域", "--history", "绿色金融"]
    argv = ["--store", "faiss", "--index-dir", "i", "ask", "那保险呢？", "--json", "--k", "3", *history]
    args = parser.parse_args([*argv, "--doc", "a", "--doc", "b"])
    assert (args.command, args.store, args.index_dir, args.question, args.json, args.k) == (
        "ask", "faiss", "i", "那保险呢？", True, 3
    )  # fmt: skip
    assert args.history == ["黄河流域", "绿色金融"] and args.docs == ["a", "b"] and args.mode == "hybrid"
    assert parser.parse_args(["index", "--compact", "--rebuild"]).compact
    add = parser.parse_args(["add", "a.txt", "b.docx", "--strict", "--no-index", "--date", "2024-05-01"])
    assert add.strict and add.no_index and add.paths == ["a.txt", "b.docx"] and add.date == "2024-05-01"
    assert not parser.parse_args(["add", "a.txt"]).strict
    assert parser.parse_args(["search"]).question is None  # questions from stdin
    assert parser.parse_args(["serve", "--with-ui", "--port", "9000"]).port == 9000
    assert parser.parse_args(["app"]).port == 7860 and parser.parse_args(["serve"]).port == 8000


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["ask"],
        ["search", "x", "--mode", "fuzzy"],
        ["search", "x", "--k", "many"],
        ["add"],
        ["feedback"],
        ["index", "--compress"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and "usage: assistant" in capsys.readouterr().err


def test_help_lists_the_commands(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and all(name in out for name in COMMANDS)


def test_the_assistant_console_script_loads() -> None:
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "assistant"]
    assert script.load() is main


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["search", "   "], "empty"),
        (["search", "x" * 2001], "2001 characters long; the limit is 2000"),
        (["search", "？！"], "no words"),
        (["search", "绿色金融", "--k", "0"], "--k must be between 1 and 50"),
        (["search", "绿色金融", "--k", "51"], "--k must be between 1 and 50"),
        (["ask", "\u200f?"], "no words"),
        (["ask", ""], "empty"),
    ],
)
def test_bad_questions_fail_before_any_model_loads(argv: list[str], words: str, capsys) -> None:
    # (the unit tier refuses to load a model: reaching one would fail the test)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_settings_are_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assistant.toml").write_text("colour = 'red'\n", encoding="utf-8")
    assert main(["list"]) == 2 and "unknown setting(s): colour" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.toml"), "--store", "nope", "index"]) == 2
    assert "unknown store 'nope'" in capsys.readouterr().err


def test_a_busy_port_fails_before_the_model_loads(capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        assert main(["serve", "--port", port]) == 2
        assert "is another app using the port?" in capsys.readouterr().err
        assert app_main(["--port", port]) == 2
        assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["app", "--host", "no such host!"]) == 2 and "cannot bind" in capsys.readouterr().err


# -- commands over the stand-in index -------------------------------------------------------------


def test_search_json_and_readable(stub_settings, stub_model, capsys) -> None:
    assert main([*dirs(stub_settings), "search", "哪些措施支持黄河流域的生态保护？", "--json", "--k", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["query"] == "哪些措施支持黄河流域的生态保护？" and len(data["hits"]) == 3
    top = data["hits"][0]
    assert top["clause_id"] == YELLOW_RIVER and top["rank"] == 1
    assert {"text", "doc_id", "clause_id", "heading", "title", "score", "rank"} <= set(top)
    assert (
        main([*dirs(stub_settings), "search", "黄河流域生态保护", "--doc", "cbirc-2023-shandong", "--mode", "bm25"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith(f"1. {YELLOW_RIVER}") and "（十一）支持黄河流域生态保护" in out
    assert main([*dirs(stub_settings), "search", "绿色金融", "--doc", "nope"]) == 2
    assert "unknown document id(s): nope" in capsys.readouterr().err


def test_batch_mode_reads_stdin_one_json_per_line(stub_settings, stub_model, capsys, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("绿色金融\n\n？\nWhat does clause 11 say?\n"))
    assert main([*dirs(stub_settings), "search", "--json", "--k", "2"]) == 1  # some questions failed
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["query"] for line in lines] == ["绿色金融", "", "？", "What does clause 11 say?"]
    assert "empty" in lines[1]["error"] and "no words" in lines[2]["error"]
    assert len(lines[0]["hits"]) == 2 and lines[3]["hits"][0]["clause_id"] == YELLOW_RIVER


def test_ask_json_and_text(stub_settings, stub_model, capsys) -> None:
    assert main([*dirs(stub_settings), "ask", "哪些措施支持黄河流域的生态保护？", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["found"] and answer["language"] == "zh" and answer["citations"][0]["hit"]["clause_id"] == YELLOW_RIVER
    assert set(answer) >= {"question", "query", "text", "citations", "hits", "mode", "warnings"}
    assert main([*dirs(stub_settings), "ask", "那保险呢？", "--history", "哪些措施支持黄河流域的生态保护？"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("相关条款如下：") and f"[1] {YELLOW_RIVER} — " in out
    assert main([*dirs(stub_settings), "ask", "黄河流域生态保护", "--generative"]) == 0
    assert "note: no language model is configured" in capsys.readouterr().out
    assert main([*dirs(stub_settings), "ask", "黄河流域生态保护", "--k", "51"]) == 2
    assert "from 1 to 50" in capsys.readouterr().err


def test_show_a_clause(stub_settings, stub_model, capsys) -> None:
    assert main([*dirs(stub_settings), "show", YELLOW_RIVER]) == 0
    out = capsys.readouterr().out
    assert out.startswith(YELLOW_RIVER) and "提供坚实保障。" in out and "Yellow River" in out
    assert main([*dirs(stub_settings), "show", YELLOW_RIVER, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rank"] == 0
    assert main([*dirs(stub_settings), "show", "x:一"]) == 2 and "no clause 'x:一'" in capsys.readouterr().err


def test_missing_index_mismatched_model_and_store(stub_settings, stub_model, tmp_path, capsys) -> None:
    assert main([*dirs(stub_settings), "--index-dir", str(tmp_path / "none"), "search", "绿色金融"]) == 2
    err = capsys.readouterr().err
    assert "assistant index" in err and "Traceback" not in err
    assert main([*dirs(stub_settings), "--model", "some/other-model", "search", "绿色金融"]) == 2
    assert "was built with 'stub/keywords-256'" in capsys.readouterr().err
    assert main([*dirs(stub_settings), "--store", "milvus:/tmp/x.db", "search", "绿色金融"]) == 2
    assert "was built for the store 'faiss'" in capsys.readouterr().err


def test_index_updates_and_compacts(own_index, stub_model, capsys) -> None:
    (own_index.corpus_dir / "extra.txt").write_text("第一条 数据应当分级保护。\n", encoding="utf-8")
    assert main([*dirs(own_index), "index", "--no-progress"]) == 0
    assert "added 1, unchanged 2" in capsys.readouterr().out
    assert main([*dirs(own_index), "index", "--compact"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("Index is up to date") and "Compacted 2 segment(s) into 1." in out.err
    from assistant.store.segments import read_manifest

    assert len(read_manifest(own_index.index_dir).segments) == 1
    (own_index.data_dir / "uploads" / "upload-leftover").mkdir(parents=True)
    assert main([*dirs(own_index), "index"]) == 0  # also removes what a killed upload left
    assert not (own_index.data_dir / "uploads" / "upload-leftover").exists()


def test_add_replaces_a_document_only_with_replace(own_index, stub_model, tmp_path, capsys) -> None:
    notice = tmp_path / "in" / "notice.txt"
    notice.parent.mkdir()
    notice.write_text("第一条 数据应当分级保护。\n", encoding="utf-8")
    base = [*dirs(own_index), "add", "--no-progress"]
    assert main([*base, str(notice)]) == 0 and "added" in capsys.readouterr().out
    notice.write_text("第一条 数据应当分类分级保护。\n", encoding="utf-8")
    assert main([*base, str(notice)]) == 1  # other content under the same id: skipped and listed
    assert "--replace" in capsys.readouterr().out
    assert "分级保护" in (own_index.corpus_dir / "notice.txt").read_text(encoding="utf-8")
    assert "分类分级" not in (own_index.corpus_dir / "notice.txt").read_text(encoding="utf-8")
    assert main([*base, "--replace", str(notice)]) == 0
    assert "updated" in capsys.readouterr().out
    assert "分类分级" in (own_index.corpus_dir / "notice.txt").read_text(encoding="utf-8")


def test_unreadable_corpus_file_is_reported(tmp_path, stub_model, capsys) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bad-doc.txt").write_bytes("绿色金融".encode("gb18030"))
    args = ["--corpus-dir", str(corpus), "--index-dir", str(tmp_path / "idx"), "--model", STUB_MODEL, "index"]
    assert main(args) == 2 and "bad-doc.txt: not UTF-8" in capsys.readouterr().err


def test_unexpected_errors_are_one_line_unless_debugging(stub_settings, stub_model, capsys, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("something odd")

    monkeypatch.setattr("assistant.ingest.manage.list_documents", boom)
    assert main([*dirs(stub_settings), "list"]) == 1
    assert capsys.readouterr().err == "error: unexpected RuntimeError: something odd (run with --debug for details)\n"
    with pytest.raises(RuntimeError, match="something odd"):
        main(["--debug", *dirs(stub_settings), "list"])


def test_feedback_export_without_feedback(stub_settings, stub_model, capsys) -> None:
    assert main([*dirs(stub_settings), "feedback", "export"]) == 0
    assert "No feedback yet" in capsys.readouterr().out
