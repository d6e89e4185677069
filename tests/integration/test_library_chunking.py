"""The clause-boundary rule over the whole shared library (chunking only, no model: ~20 s).

No text after an enumerated list inside an article may be filed under the list's last item.
"""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from chunk_changes import LIBRARY, closing_paragraphs_on_items, library_texts

from assistant.chunking import parse

pytestmark = pytest.mark.skipif(not LIBRARY.is_dir(), reason=f"the shared library ({LIBRARY}) is not on this machine")


def test_no_closing_paragraph_is_filed_under_a_last_item() -> None:
    bad: list[str] = []
    documents = 0
    for rel, text in library_texts(LIBRARY):
        documents += 1
        parsed = parse("d", text)
        found = closing_paragraphs_on_items(parsed.source, parsed.chunks)
        bad.extend(f"{rel}: {c.chunk_id} {c.text[:30]}" for c in found)
    assert documents > 3000
    assert not bad, f"{len(bad)} closing paragraphs under a last item, e.g. {bad[:3]}"
