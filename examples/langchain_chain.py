"""Use the retriever in a LangChain (LCEL) chain: retriever → numbered clauses → prompt → chat model.

The chat model is the OpenAI-compatible endpoint configured with ASSISTANT_LLM_BASE_URL and
ASSISTANT_LLM_MODEL (and ASSISTANT_LLM_API_KEY if it needs one); without one, a fake model
stands in so the example runs offline. Run from the repository root after the set-up
(``bash scripts/setup.sh``)::

    .venv/bin/python examples/langchain_chain.py
"""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from assistant import Settings
from assistant.answering.generative import chat_model_from_settings
from assistant.interfaces.langchain import BundledEmbeddings, ClauseRetriever, format_documents
from assistant.retrieval import open_retriever

settings = Settings.load()
# Load the model and the index once (the first run builds index/, about a minute; then it is reused).
# A LangChain retriever returning one Document per clause (metadata: doc_id, clause_id, heading, title, score…).
retriever = ClauseRetriever(retriever=open_retriever(settings), k=3)
llm = chat_model_from_settings(settings) or FakeListChatModel(
    responses=["(offline fake model: set ASSISTANT_LLM_BASE_URL and ASSISTANT_LLM_MODEL for a real one) See [1]."]
)

prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer only from the numbered clauses and cite them like [1]. Answer in English."),
        ("human", "Clauses:\n{context}\n\nQuestion: {question}"),
    ]
)


def show(prompt_value: PromptValue) -> PromptValue:
    """Print what the model is sent (the retrieved clauses), and pass it on."""
    print("== prompt\n" + prompt_value.to_string())
    return prompt_value


chain = (
    {"context": retriever | format_documents, "question": RunnablePassthrough()}
    | prompt
    | RunnableLambda(show)
    | llm
    | StrOutputParser()
)
print("== answer\n" + chain.invoke("Which measures support Yellow River ecology?"))

# The embedding model as LangChain Embeddings (here sharing the retriever's loaded model),
# e.g. for a vector store of your own.
embeddings = BundledEmbeddings(retriever.retriever.embedder)
print(f"\n== embeddings: {len(embeddings.embed_query('绿色金融'))} dimensions")
