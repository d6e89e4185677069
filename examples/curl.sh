#!/usr/bin/env bash
# Call the HTTP API with curl, e.g. from a service in another language. Start the server first,
# from the repository root (it listens on http://127.0.0.1:8000; OpenAPI at /openapi.json, docs at /docs):
#
#   .venv/bin/assistant serve
#
# then:  bash examples/curl.sh [BASE_URL]
set -euo pipefail
base="${1:-http://127.0.0.1:8000}"

# Pretty-print JSON with jq (and the given filter) when jq is installed; raw JSON otherwise.
show() { if command -v jq >/dev/null 2>&1; then jq "$@"; else cat; echo; fi; }

echo "== GET /healthz"
curl -fsS "$base/healthz" | show .

echo "== POST /api/search: the k best clauses (k 1-50, optional doc_ids filter)"
curl -fsS -X POST "$base/api/search" -H 'content-type: application/json' \
  -d '{"query":"Which measures support Yellow River ecology?","k":5}' |
  show '.hits[] | {rank, clause_id, heading, text}'

echo "== POST /api/ask: an answer citing clauses as [n]"
curl -fsS -X POST "$base/api/ask" -H 'content-type: application/json' \
  -d '{"question":"哪些措施支持黄河流域的生态保护？"}' |
  show '{found, text, citations: [.citations[] | {marker, clause_id: .hit.clause_id}]}'

echo "== GET /api/clauses/{clause_id}: one clause (cbirc-2023-shandong:四.十一, URL-encoded)"
curl -fsS "$base/api/clauses/cbirc-2023-shandong:%E5%9B%9B.%E5%8D%81%E4%B8%80" |
  show '{clause_id, heading, text, translation}'

echo "== GET /api/documents"
curl -fsS "$base/api/documents" | show '.documents[] | {doc_id, title, clauses}'

echo "== an invalid request gives 422 and a message"
curl -sS -X POST "$base/api/search" -H 'content-type: application/json' -d '{"query":"绿色金融","k":0}' |
  show '{detail}'
