"""The chat UI's layout (Gradio): Chat, Evaluation and Corpus tabs, the ``/ask`` API endpoint,
and starting the server."""

from __future__ import annotations

import logging
import threading
import time
import typing
from typing import Any

import gradio as gr

from assistant.errors import AssistantError
from assistant.interfaces.serving import check_port, exposure_warning
from assistant.interfaces.ui.handlers import RERANK_CHOICE, ChatService
from assistant.interfaces.ui.render import EXAMPLES, SOURCES_CSS, SOURCES_JS, SOURCES_PLACEHOLDER
from assistant.retrieval import MODES
from assistant.service import Service
from assistant.settings import Settings

logger = logging.getLogger(__name__)

# -- the UI ---------------------------------------------------------------------------------------


def build_ui(service: Service) -> gr.Blocks:
    """The Gradio app: Chat, Evaluation and Corpus tabs, and the ``/ask`` API endpoint.

    Args:
        service: Answers, documents and uploads (the HTTP API shares it when the UI is mounted).

    Example:
        >>> demo = build_ui(Service.open(Settings.load()))            # doctest: +SKIP
        >>> demo.queue().launch(server_name="127.0.0.1")            # doctest: +SKIP
    """
    answerer = service.answerer
    service = ChatService(service)
    private: dict[str, Any] = {"api_visibility": "private"}
    with gr.Blocks(title="Regulation Q&A · 金融监管问答", analytics_enabled=False) as demo:
        demo.service = service  # type: ignore[attr-defined]  # for tests and embedding apps
        gr.Markdown(
            "### Regulation Q&A · 金融监管问答\n"
            "Ask about the indexed regulations in Chinese or English; every answer cites its clauses. "
            "用中文或英文提问，每个回答都注明出处条款。"
        )
        with gr.Tabs():
            with gr.Tab("Chat · 问答", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=5):
                        chatbot = gr.Chatbot(
                            label="Chat",
                            elem_id="chat",
                            height=460,
                            render_markdown=False,  # messages are escaped HTML built here
                            sanitize_html=True,
                            latex_delimiters=[],
                            allow_tags=False,
                            buttons=[],
                            feedback_options=("Like", "Dislike"),
                            placeholder="Ask a question below · 请在下方提问",
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                show_label=False,
                                placeholder="Your question… 您的问题…",
                                elem_id="question",
                                scale=6,
                                lines=1,
                                max_lines=4,
                                autofocus=True,
                            )
                            send = gr.Button("Ask · 提问", variant="primary", elem_id="ask", scale=1, min_width=90)
                        gr.Examples(
                            examples=[[e] for e in EXAMPLES], inputs=[question], label="Examples · 示例", **private
                        )
                        with gr.Row():
                            k = gr.Slider(1, 10, value=5, step=1, label="Passages · 检索条数", scale=2)
                            mode = gr.Radio(list(MODES), value="hybrid", label="Retrieval mode · 检索方式", scale=2)
                            as_of = gr.Textbox(
                                "",
                                label="As of (YYYY-MM-DD; empty: in force today) · 时点（空为现行有效）",
                                placeholder="2020-01-01",
                                max_lines=1,
                                scale=1,
                            )
                        with gr.Row():
                            docs = gr.Dropdown(
                                choices=service.document_choices(),
                                multiselect=True,
                                value=[],
                                label="Documents (empty: all) · 文档筛选（空为全部）",
                                scale=3,
                            )
                            generative = gr.Checkbox(
                                value=False,
                                label="Generative answer (LLM) · 生成式回答",
                                visible=bool(getattr(answerer, "generative_available", False)),
                                scale=1,
                            )
                            clear = gr.Button("New conversation · 新对话", size="sm", scale=1)
                        status = gr.HTML("", elem_id="status", js_on_load=None)
                    with gr.Column(scale=4):
                        gr.Markdown("**Sources · 来源**")
                        sources = gr.HTML(
                            SOURCES_PLACEHOLDER,
                            elem_id="sources",
                            css_template=SOURCES_CSS,
                            js_on_load=SOURCES_JS,
                            max_height=900,
                            autoscroll=False,
                        )
                turns = gr.State([])

            with gr.Tab("Evaluation · 评估", id="evaluation"):
                gr.Markdown(
                    "Run the gold set (`eval/`) against the current index: Recall@k, MRR@10 and nDCG@10 by query "
                    "language. `dev` is for tuning, `test` for reporting. The per-feature ablation is left out "
                    "to keep it quick (`assistant eval` runs it)."
                )
                with gr.Row():
                    split = gr.Radio(["dev", "test"], value="dev", label="Split")
                    eval_modes = gr.CheckboxGroup(
                        [RERANK_CHOICE, *MODES], value=[RERANK_CHOICE, *MODES], label="Retrieval modes"
                    )
                    run = gr.Button("Run evaluation · 运行评估", variant="primary", elem_id="run-eval")
                eval_status = gr.HTML("", js_on_load=None)
                metrics = gr.Dataframe(label="Metrics", interactive=False, wrap=True, elem_id="metrics")
                refusals = gr.Dataframe(label='"Not found" decisions', interactive=False, elem_id="refusals")
                plot = gr.Image(label="Recall@k", type="pil", interactive=False, elem_id="recall-plot")

            with gr.Tab("Corpus · 文档库", id="corpus"):
                corpus = gr.Dataframe(
                    value=service.corpus_table(),
                    label="Documents",
                    interactive=False,
                    wrap=True,
                    column_widths=["18%", "38%", "16%", "10%", "6%", "12%"],
                )
                with gr.Row():
                    with gr.Column(scale=3):
                        files = gr.File(
                            label="Add documents (txt, md, docx, pdf, html) · 添加文档",
                            file_count="multiple",
                            file_types=[".txt", ".md", ".docx", ".pdf", ".html", ".htm"],
                        )
                    with gr.Column(scale=2):
                        title = gr.Textbox(label="Title (optional, one file only)")
                        issuer = gr.Textbox(label="Issuer (optional)")
                        date = gr.Textbox(label="Date (optional, e.g. 2024-05-01)")
                        replace = gr.Checkbox(value=False, label="Replace a document with the same id · 替换同名文档")
                        token = gr.Textbox(
                            label="API token (ASSISTANT_API_TOKEN)",
                            type="password",
                            visible=bool(service.settings.api_token),
                        )
                        add = gr.Button("Add and index · 添加并索引", variant="primary")
                with gr.Row():
                    to_remove = gr.Dropdown(
                        choices=[c[1] for c in service.document_choices()], label="Document", scale=3
                    )
                    translate = gr.Button(
                        "Translate to English (LLM) · 机器翻译",
                        scale=1,
                        visible=bool(getattr(answerer, "generative_available", False)),
                    )
                    remove = gr.Button("Remove · 删除", variant="stop", scale=1)
                corpus_status = gr.HTML("", js_on_load=None)

        chat_io = {
            "fn": service.respond,
            "inputs": [question, turns, k, docs, mode, generative, as_of],
            "outputs": [question, chatbot, turns, sources, status],
            "concurrency_limit": 4,
            "concurrency_id": "chat",
            **private,
        }
        question.submit(**chat_io)
        send.click(**chat_io)
        chatbot.like(service.like, inputs=[turns], outputs=[status], **private)
        chatbot.select(service.select, inputs=[turns], outputs=[sources], **private)
        sources.click(service.mark_right, inputs=[turns], outputs=[status], **private)
        clear.click(lambda: ([], [], SOURCES_PLACEHOLDER, ""), outputs=[chatbot, turns, sources, status], **private)
        chatbot.clear(lambda: ([], SOURCES_PLACEHOLDER, ""), outputs=[turns, sources, status], **private)
        run.click(
            service.run_eval,
            inputs=[split, eval_modes],
            outputs=[eval_status, metrics, plot, refusals],
            concurrency_limit=1,
            **private,
        )
        corpus_outputs = [corpus_status, corpus, to_remove, docs]
        add.click(
            service.add_documents,
            inputs=[files, title, issuer, date, replace, token],
            outputs=[*corpus_outputs, files, title, issuer, date],
            concurrency_id="corpus",
            concurrency_limit=1,
            **private,
        )
        remove.click(
            service.remove_document,
            inputs=[to_remove, token],
            outputs=corpus_outputs,
            concurrency_id="corpus",
            **private,
        )
        translate.click(
            service.translate_document,
            inputs=[to_remove, token],
            outputs=corpus_outputs,
            concurrency_id="corpus",
            **private,
        )
        # The corpus may have changed since the page was built (another tab, the HTTP API).
        demo.load(service.corpus_outputs, outputs=corpus_outputs[1:], **private)

        def ask(question: str, k: int = 5, document: str = "", mode: str = "hybrid") -> str:
            """Answer a question (Chinese or English) from the indexed regulations.

            Returns the answer, each statement cited [n], then the cited clauses as
            "[n] clause id — heading (title, date)". An empty or over-long question, or one that nothing
            is relevant to, gets a one-line message instead.

            Args:
                question: The question, 1-2,000 characters.
                k: How many clauses to retrieve (1-20).
                document: Only search this document id (empty: all).
                mode: Retrieval mode: hybrid, dense or bm25.
            """
            return service.ask(question, k, document, mode)

        # Gradio reads the endpoint's types from the annotations, which are strings under
        # ``from __future__ import annotations``; give it the real types.
        ask.__annotations__ = typing.get_type_hints(ask)
        gr.api(ask, api_name="ask", concurrency_id="chat", concurrency_limit=4)
    return demo


# -- start-up -------------------------------------------------------------------------------------


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True) -> gr.Blocks:
    """Load the model and index (building the index if needed) and serve the UI.

    Args:
        settings: Paths and model.
        host: Address to bind; the default serves this machine only.
        port: Port to serve on.
        block: Serve until interrupted; ``False`` returns the running app (for tests).

    Raises:
        AssistantError: The port is in use, or the index / model cannot be loaded.
    """
    started = time.perf_counter()
    check_port(host, port)  # before the model loads, so a busy port fails at once
    service = Service.open(settings, log=lambda msg: print(msg, flush=True))
    service.expose(host)
    demo = build_ui(service)
    # Warm up (tokenizer dictionaries, first inference) while the server starts.
    threading.Thread(target=_warm_up, args=(service,), daemon=True).start()
    demo.queue(default_concurrency_limit=2)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,
            footer_links=["api", "settings"],
        )
    except OSError as exc:
        raise AssistantError(
            f"cannot serve on {host}:{port} ({exc}); is the port in use? choose one with --port"
        ) from exc
    shown = f"[{host}]" if ":" in host else host
    loaded = time.perf_counter() - started
    print(
        f"Chat UI ready at http://{shown}:{port} (model and index loaded in {loaded:.1f} s; Ctrl+C to stop)", flush=True
    )
    warning = exposure_warning(host, "the UI")
    if warning:
        print(warning, flush=True)
    if block:
        try:
            demo.block_thread()
        finally:
            demo.close()
    return demo


def _warm_up(service: Service) -> None:
    try:
        service.ask("黄河流域生态保护", k=1)
    except Exception:  # a warm-up failure shows again, properly reported, on the first question
        logger.debug("warm-up failed", exc_info=True)
