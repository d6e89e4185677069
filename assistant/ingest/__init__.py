"""Documents in and out of the corpus folder, in two layers.

Reading, below chunking and indexing: :mod:`~assistant.ingest.formats` turns a file (txt, md, docx,
pdf, html; any common encoding) into text and metadata, and :mod:`~assistant.ingest.corpus` reads
the corpus folder (what :mod:`assistant.indexing` indexes).

Managing, above indexing: :mod:`~assistant.ingest.manage` adds and removes documents and updates
the index; :mod:`~assistant.ingest.translate` writes machine translations.
"""
