"""The command line, run as a user would (each call is a fresh process, with the bundled model)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import YELLOW_RIVER


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], input=stdin, capture_output=True, text=True, env=env, timeout=300
    )


def test_search_json_puts_the_clause_first(built_index, cli_env) -> None:
    out = run(["search", "哪些措施支持黄河流域的生态保护？", "--json"], cli_env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["query"] == "哪些措施支持黄河流域的生态保护？"
    top = data["hits"][0]
    assert top["clause_id"] == YELLOW_RIVER and top["rank"] == 1
    assert {"text", "doc_id", "clause_id", "heading", "title", "score", "rank"} <= set(top)


def test_search_readable_output(built_index, cli_env) -> None:
    out = run(["search", "Which measures support Yellow River ecology?", "--k", "3"], cli_env)
    assert out.returncode == 0, out.stderr
    assert YELLOW_RIVER in out.stdout and "（十一）支持黄河流域生态保护" in out.stdout


def test_batch_mode_reads_stdin_one_json_per_line(built_index, cli_env) -> None:
    out = run(["search", "--json", "--k", "2"], cli_env, stdin="绿色金融\n\nWhat does clause 11 say?\n")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["绿色金融", "", "What does clause 11 say?"]
    assert "error" in lines[1] and "empty" in lines[1]["error"]
    assert lines[2]["hits"][0]["clause_id"] == YELLOW_RIVER
    assert out.returncode == 1  # one question failed


def test_bad_input_is_one_line_without_traceback(built_index, cli_env, tmp_path) -> None:
    empty = run(["search", "   "], cli_env)
    assert empty.returncode == 2 and empty.stderr.strip().count("\n") == 0 and "empty" in empty.stderr
    long = run(["search", "x" * 2001], cli_env)
    assert long.returncode == 2 and "2000" in long.stderr
    missing = run(["--index-dir", str(tmp_path / "none"), "search", "绿色金融"], cli_env)
    assert missing.returncode == 2 and "assistant index" in missing.stderr and "Traceback" not in missing.stderr
    mismatch = run(["--model", "some/other-model", "search", "绿色金融"], cli_env)
    assert mismatch.returncode == 2 and "was built with" in mismatch.stderr


def test_ask_json_cites_the_clause(built_index, cli_env) -> None:
    out = run(["ask", "Which measures support Yellow River ecology?", "--json"], cli_env)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["found"] and answer["language"] == "en" and answer["mode"] == "extractive"
    assert answer["citations"][0]["hit"]["clause_id"] == YELLOW_RIVER and "[1]" in answer["text"]
    text = run(["ask", "哪些措施支持黄河流域的生态保护？"], cli_env)
    assert text.returncode == 0 and text.stdout.startswith("相关条款如下") and f"[1] {YELLOW_RIVER} — " in text.stdout
    refused = run(["ask", "？？？"], cli_env)
    assert refused.returncode == 2 and "no words" in refused.stderr


def test_index_is_a_no_op_when_up_to_date(built_index, cli_env) -> None:
    out = run(["index", "--no-progress"], cli_env)
    assert out.returncode == 0, out.stderr
    assert "up to date" in out.stdout


def test_unreadable_corpus_file_is_reported(cli_env, tmp_path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "bad-doc.txt").write_bytes("绿色金融".encode("gb18030"))
    out = run(["--corpus-dir", str(corpus), "--index-dir", str(tmp_path / "idx"), "index"], cli_env)
    assert out.returncode == 2 and "bad-doc.txt: not UTF-8" in out.stderr
