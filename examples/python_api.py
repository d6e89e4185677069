"""Use the assistant from Python: load it once, search, search a batch, get a clause, answer a question.

Run from the repository root after the set-up (``bash scripts/setup.sh``)::

    .venv/bin/python examples/python_api.py
"""

from __future__ import annotations

from assistant import Answerer, Retriever, Service, Settings

# corpus/ and index/ in the working directory (or ASSISTANT_CORPUS_DIR, ASSISTANT_INDEX_DIR…).
settings = Settings.load()
# Load the embedding model once, and the index (the first run builds index/, about a minute; after a
# change to corpus/ only the changed documents are embedded again).
service = Service.open(settings)

# The retriever is thread-safe: share one in your app.
retriever: Retriever = service.retriever

# The k best clauses for a question, in Chinese or English. Each hit carries the clause id, its
# heading path, text, document metadata, score, and the English translation where there is one.
print("== search")
for hit in retriever.search("Which measures support Yellow River ecology?", k=3):
    print(f"{hit.rank}. {hit.clause_id}  (score {hit.score:.2f})")
    print(f"   {hit.heading}")
    print(f"   {hit.text[:70]}…")

# Several questions at once: their embeddings are computed in one batch.
print("\n== search_batch")
questions = ["哪些措施支持黄河流域的生态保护？", "How many Hong Kong-funded banks are in Shenzhen?"]
for question, hits in zip(questions, retriever.search_batch(questions, k=1), strict=True):
    print(f"{question}  ->  {hits[0].clause_id}")

# Only some documents; and a whole clause by its id.
print("\n== filter and lookup")
print([h.clause_id for h in retriever.search("绿色金融", k=2, doc_ids=["sz-2025-reform"])])
clause = retriever.clause("cbirc-2023-shandong:四.十一")
print(clause.heading, "|", clause.translation[:60] if clause.translation else "", "…")

# An answer in the question's language, citing its clauses as [1], [2]…
print("\n== answer")
answer = Answerer(retriever, settings).answer("Which measures support Yellow River ecology?")
print(answer.text)
for citation in answer.citations:
    print(f"[{citation.marker}] {citation.hit.clause_id}  {citation.hit.heading}")

# The service is what the chat UI, the HTTP API and the command line use: the same answers, with one
# set of limits (k ≤ 50, questions ≤ 2,000 characters, at most 20 earlier questions), follow-ups, and
# document uploads that reload the index.
print("\n== follow-up through the service")
follow_up = service.ask("那保险呢？", history=["哪些措施支持黄河流域的生态保护？"], k=3)
print(f"searched for: {follow_up.query}")
print(f"cited: {[c.hit.clause_id for c in follow_up.citations]}")
