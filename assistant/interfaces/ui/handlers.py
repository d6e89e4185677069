"""The chat UI's event handlers: they call the :class:`~assistant.service.Service` and turn its
results into what the layout shows (HTML, tables, dropdown updates)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.errors import AssistantError
from assistant.feedback import record_feedback
from assistant.interfaces.ui.render import (
    MESSAGES,
    SOURCES_PLACEHOLDER,
    _lines_html,
    _too_long,
    _user_html,
    answer_html,
    answer_plain,
    esc,
    sources_html,
)
from assistant.retrieval import MODES
from assistant.service import Service, Upload
from assistant.settings import MAX_QUERY_CHARS
from assistant.text.normalize import detect_language, shorten
from assistant.types import Answer

#: The Evaluation tab's choice that adds the reranked configuration (the default of answers).
RERANK_CHOICE = "rerank"

logger = logging.getLogger(__name__)

# -- the service behind the UI --------------------------------------------------------------------


class ChatService:
    """What the UI's events call; one per app, shared by all browser sessions.

    Holds the live answerer (replaced after the corpus changes; shared with the HTTP API when both
    run in one process) and the settings. Per-session state (the conversation) is passed in and
    returned by each handler as a list of *turns*, one dict per question: the question, the answer
    text, the cited and retrieved clause ids, and the HTML shown for it.

    Args:
        service: The service (shared with the HTTP API when both run in one process).
    """

    def __init__(self, service: Service) -> None:
        self.service = service
        self.live = service.live
        self.settings = service.settings

    @property
    def answerer(self):
        return self.service.answerer

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(getattr(self.answerer, "thresholds", {}))

    def documents(self) -> list[dict[str, Any]]:
        """The indexed documents (id, title, issuer, date, …)."""
        return self.service.documents()

    def document_choices(self) -> list[tuple[str, str]]:
        """``(label, doc_id)`` pairs for the document filter."""
        return [
            (f"{shorten(d.get('title') or d['doc_id'], 40)} · {d['doc_id']}", d["doc_id"]) for d in self.documents()
        ]

    # -- answering --------------------------------------------------------------------------------

    def answer(
        self,
        question: str,
        *,
        k: float = 5,
        doc_ids: Sequence[str] | None = None,
        mode: str = "hybrid",
        history: Sequence[str] = (),
        generative: bool = False,
        as_of: str = "",
    ) -> tuple[Answer | None, str]:
        """The answer, or ``None`` and a polite message (empty, too long, invalid, or an internal error)."""
        text = question.strip() if isinstance(question, str) else ""
        if not text:
            return None, "\n".join(MESSAGES["empty"].values())
        if len(text) > MAX_QUERY_CHARS:
            return None, _too_long(text)
        try:
            k = max(1, min(int(float(k or 5)), self.service.limits.max_k))
        except (TypeError, ValueError):
            return None, f"k must be a number of passages (1-{self.service.limits.max_k}), not {k!r}"
        try:
            answer = self.service.ask(
                text,
                k=k,
                doc_ids=list(doc_ids) if doc_ids else None,
                mode=mode or "hybrid",
                history=list(history),
                generative=bool(generative),
                as_of=as_of.strip() if isinstance(as_of, str) and as_of.strip() else None,
            )
        except AssistantError as exc:
            return None, str(exc)
        except Exception:
            logger.exception("answering %r failed", text[:200])
            return None, MESSAGES["error"][detect_language(text)]
        return answer, ""

    def respond(
        self,
        message: str,
        turns: list[dict[str, Any]] | None,
        k: float = 5,
        doc_ids: Sequence[str] | None = None,
        mode: str = "hybrid",
        generative: bool = False,
        as_of: str = "",
    ) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]], str, str]:
        """The chat handler: answer ``message`` in the session's conversation.

        Returns:
            The cleared input box, the chat messages, the updated turns, the source panel HTML and
            a status line.
        """
        turns = list(turns or [])
        message = message if isinstance(message, str) else ""
        history = [t["question"] for t in turns if t.get("answered")]
        answer, polite = self.answer(
            message, k=k, doc_ids=doc_ids, mode=mode, history=history, generative=generative, as_of=as_of
        )
        index = len(turns)
        if answer is None:
            turn = {
                "question": message.strip()[:MAX_QUERY_CHARS],
                "user_html": _user_html(message.strip()) if message.strip() else "",
                "bot_html": _lines_html(polite),
                "text": polite,
                "answered": False,
            }
            panel = SOURCES_PLACEHOLDER
        else:
            panel = sources_html(answer, index, self.thresholds)
            turn = {
                "question": answer.question,
                "query": answer.query,
                "user_html": _user_html(answer.question),
                "bot_html": answer_html(answer),
                "text": answer.text,
                "answered": True,
                "found": answer.found,
                "language": answer.language,
                "mode": answer.mode,
                "cited": [c.hit.clause_id for c in answer.citations],
                "retrieved": [h.clause_id for h in answer.hits],
                "sources_html": panel,
            }
        turns.append(turn)
        return "", chat_messages(turns), turns, panel, ""

    def ask(self, question: str, k: int = 5, document: str = "", mode: str = "hybrid") -> str:
        """The ``/ask`` API: the answer text and its cited clauses as plain text (no history)."""
        answer, polite = self.answer(
            question, k=k, doc_ids=[document] if document and document.strip() else None, mode=mode
        )
        return polite if answer is None else answer_plain(answer)

    # -- selection and feedback -------------------------------------------------------------------

    def select(self, turns: list[dict[str, Any]] | None, data: gr.SelectData) -> str:
        """Show the sources of the answer the user clicked on."""
        turn = _turn_at(turns or [], data.index)
        if turn is None or not turn.get("sources_html"):
            return gr.skip()
        return turn["sources_html"]

    def like(self, turns: list[dict[str, Any]] | None, data: gr.LikeData) -> str:
        """Thumbs up / down on an answer → the feedback log."""
        turn = _turn_at(turns or [], data.index)
        if turn is None or not turn.get("answered") or data.liked not in (True, False):
            return ""
        kind = "thumbs_up" if data.liked else "thumbs_down"
        return self._record(kind, turn)

    def mark_right(self, turns: list[dict[str, Any]] | None, data: gr.EventData) -> str:
        """Record "this clause was the right one", clicked on a source card, in the feedback log."""
        payload = getattr(data, "_data", None) or {}
        clause, index = payload.get("clause"), payload.get("turn")
        turns = turns or []
        if not isinstance(index, (int, float)) or not 0 <= int(index) < len(turns):
            return ""
        turn = turns[int(index)]
        # Only clauses this answer showed can be marked (the event comes from the browser).
        if not turn.get("answered") or clause not in turn.get("retrieved", []):
            return ""
        return self._record("right_clause", turn, clause=str(clause))

    def _record(self, kind: str, turn: dict[str, Any], clause: str | None = None) -> str:
        try:
            record_feedback(
                self.settings,
                kind,
                question=turn["question"],
                query=turn.get("query"),
                answer=turn["text"],
                cited=turn.get("cited", []),
                clause=clause,
                language=turn.get("language"),
                found=turn.get("found", True),
                mode=turn.get("mode"),
            )
        except OSError:
            logger.exception("cannot write the feedback log")
            return "Feedback could not be saved (see the server log). · 反馈未能保存。"
        return "Thanks, your feedback was recorded. · 感谢反馈，已记录。"

    # -- evaluation -------------------------------------------------------------------------------

    def run_eval(self, split: str, modes: list[str] | None) -> tuple[str, Any, Any, Any]:
        """Run the gold set; returns a status line, the metrics table, the Recall@k plot and the
        "not found" table (wrong refusals on gold questions, false answers on out-of-corpus ones)."""
        import pandas as pd

        from assistant.evaluation.runner import EvalArgs, run_evaluation, summary_table

        chosen = tuple(m for m in MODES[::-1] if m in (MODES if modes is None else modes))
        if split not in ("dev", "test") or not chosen:
            return "<p>Choose a split and at least one retrieval mode.</p>", gr.skip(), gr.skip(), gr.skip()
        out = Path(self.settings.data_dir) / "eval-reports"
        reranked = modes is None or RERANK_CHOICE in modes
        args = EvalArgs(
            split=split, modes=chosen, ablation=False, plots=True, name=f"ui-{split}", out=out, rerank=reranked
        )
        started = time.perf_counter()
        try:
            report = run_evaluation(args, self.settings, retriever=self.answerer.retriever, log=lambda _: None)
        except (AssistantError, ValueError) as exc:
            return f"<p>The evaluation could not run: {esc(exc)}</p>", gr.skip(), gr.skip(), gr.skip()
        except Exception:
            logger.exception("evaluation failed")
            return "<p>The evaluation failed unexpectedly (see the server log).</p>", gr.skip(), gr.skip(), gr.skip()
        rows = summary_table(report)
        table = pd.DataFrame(rows[1:], columns=rows[0])
        plot = next((p for p in report.paths if p.name.endswith("-recall.png")), None)
        image = None
        if plot is not None:
            from PIL import Image

            with Image.open(plot) as img:
                image = img.copy()
        m = report.main.metrics["all"]
        status = (
            f"<p><b>{esc(split)}</b> split, {m['n']} questions, in {time.perf_counter() - started:.1f} s. "
            f"{esc(report.main.name)}: Recall@5 {m['recall@5']:.3f}, MRR@10 {m['mrr@10']:.3f}. "
            f"Report: <code>{esc(report.paths[0])}</code></p>"
        )
        refusals = pd.DataFrame(
            [
                [
                    lang,
                    f"{r.get('threshold', 0):.3f}",
                    f"{r.get('wrong_refusals', 0)} / {r.get('n_gold', 0)}",
                    f"{r.get('false_answers', 0)} / {r.get('n_ooc', 0)}",
                ]
                for lang, r in getattr(report, "answering", {}).items()
            ],
            columns=["query language", "threshold", "wrong refusals (gold)", "false answers (out of corpus)"],
        )
        return status, table, image, refusals

    # -- corpus -----------------------------------------------------------------------------------

    def corpus_table(self) -> Any:
        """The documents as a table (from :mod:`assistant.ingest.manage` when available)."""
        import pandas as pd

        columns = ["doc_id", "title", "issuer", "date", "clauses", "indexed_at"]
        columns += ["effective", "in_force", "superseded_by"]  # versions of one law (assistant.ingest.versions)
        try:
            from assistant.ingest.manage import list_documents

            rows = [[getattr(d, c, "") for c in columns] for d in list_documents(self.settings)]
        except Exception as exc:  # the listing must not take the UI down; the index knows the documents too
            logger.warning("cannot list the corpus documents (%s); showing the indexed ones", exc)
            rows = [[d.get(c, "") for c in columns] for d in self.documents()]
        return pd.DataFrame(rows, columns=columns)

    def add_documents(
        self,
        files: list[str] | str | None,
        title: str = "",
        issuer: str = "",
        date: str = "",
        replace: bool = False,
        token: str = "",
    ) -> tuple[Any, ...]:
        """Upload handler: copy the files under ``<data_dir>/uploads/``, add them, reload the index.

        Returns:
            A status line, the document table, the two document dropdowns, then the upload and
            metadata fields (cleared after a successful upload, left as they are otherwise).
        """
        status, ok = self._add(files, title, issuer, date, bool(replace), token or None)
        fields = (None, "", "", "") if ok else (gr.skip(),) * 4
        return status, *self.corpus_outputs(), *fields

    def _add(
        self, files: list[str] | str | None, title: str, issuer: str, date: str, replace: bool, token: str | None
    ) -> tuple[str, bool]:
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            return "<p>Choose one or more files first. · 请先选择文件。</p>", False
        meta = {k: v.strip() for k, v in (("title", title), ("issuer", issuer), ("date", date)) if v and v.strip()}
        if meta.get("title") and len(paths) > 1:
            return "<p>A title can only be given when uploading one file.</p>", False
        uploads = [Upload(Path(p).name, Path(p)) for p in paths]
        try:
            results = self.service.add(
                uploads, meta=meta or None, replace=replace, token=token, log=lambda msg: logger.info("%s", msg)
            )
        except AssistantError as exc:
            return f"<p>Not added: {esc(exc)}</p>", False
        except Exception:
            logger.exception("adding documents failed")
            return "<p>Adding the documents failed unexpectedly (see the server log).</p>", False
        lines = []
        for r in results:
            warn = f" — {esc('; '.join(r.warnings))}" if getattr(r, "warnings", None) else ""
            lines.append(
                f"<li><code>{esc(r.doc_id)}</code> {esc(r.action)}: {esc(r.title)} "
                f"({getattr(r, 'clauses', 0) or r.chunks} clauses){warn}</li>"
            )
        return (f"<ul>{''.join(lines)}</ul>" if lines else "<p>Nothing was added.</p>"), True

    def translate_document(self, doc_id: str | None, token: str = "") -> tuple[str, Any, Any, Any]:
        """Machine-translate a document with the configured language model, then reload."""
        if not doc_id:
            return "<p>Choose a document to translate.</p>", *self.corpus_outputs()
        try:
            self.service.translate(doc_id, token=token or None)
        except AssistantError as exc:
            return f"<p>Not translated: {esc(exc)}</p>", *self.corpus_outputs()
        except Exception:
            logger.exception("translating %s failed", doc_id)
            return "<p>Translating the document failed unexpectedly (see the server log).</p>", *self.corpus_outputs()
        return f"<p>Translated <code>{esc(doc_id)}</code> (machine translation).</p>", *self.corpus_outputs()

    def remove_document(self, doc_id: str | None, token: str = "") -> tuple[str, Any, Any, Any]:
        """Remove a document from the corpus and the index, then reload."""
        if not doc_id:
            return "<p>Choose a document to remove.</p>", *self.corpus_outputs()
        try:
            self.service.remove(doc_id, token=token or None)
        except AssistantError as exc:
            return f"<p>Not removed: {esc(exc)}</p>", *self.corpus_outputs()
        except Exception:
            logger.exception("removing %s failed", doc_id)
            return "<p>Removing the document failed unexpectedly (see the server log).</p>", *self.corpus_outputs()
        return f"<p>Removed <code>{esc(doc_id)}</code>.</p>", *self.corpus_outputs()

    def corpus_outputs(self) -> tuple[Any, Any, Any]:
        """The document table and the choices of the two document dropdowns, as UI updates."""
        choices = self.document_choices()
        return (
            self.corpus_table(),
            gr.Dropdown(choices=[c[1] for c in choices], value=None),
            gr.Dropdown(choices=choices),
        )


def _turn_at(turns: list[dict[str, Any]], index: Any) -> dict[str, Any] | None:
    """The turn whose assistant message is chat message ``index``."""
    if isinstance(index, (list, tuple)):
        index = index[0] if index else None
    if not isinstance(index, int):
        return None
    return next((t for t in turns if t.get("msg_index") == index), None)


def chat_messages(turns: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The chat's messages from the turns (and each turn's assistant message index)."""
    messages: list[dict[str, str]] = []
    for turn in turns:
        if turn.get("user_html"):
            messages.append({"role": "user", "content": turn["user_html"]})
        turn["msg_index"] = len(messages)
        messages.append({"role": "assistant", "content": turn["bot_html"]})
    return messages
