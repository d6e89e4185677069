"""The servers as a user starts them: ``python app.py`` answering gradio_client, and
``assistant serve --with-ui`` answering ``examples/curl.sh``, with the chat UI beside the API."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from assistant.interfaces.ui import MESSAGES
from tests.conftest import ROOT, YELLOW_RIVER

pytestmark = pytest.mark.slow


def test_app_py_serves_the_ask_endpoint_to_gradio_client(app_server) -> None:
    from gradio_client import Client

    client = Client(f"{app_server.url}/", verbose=False)
    out = client.predict("Which measures support Yellow River ecology?", api_name="/ask")
    assert out.startswith("The most relevant provisions are") and f"[1] {YELLOW_RIVER} — " in out
    out = client.predict(question="哪些措施支持黄河流域的生态保护？", k=3, api_name="/ask")
    assert out.startswith("相关条款如下") and "（十一）支持黄河流域生态保护" in out
    assert client.predict("", api_name="/ask") == "\n".join(MESSAGES["empty"].values())
    assert "limited to 2,000 characters" in client.predict("x" * 10_000, api_name="/ask")
    assert "no words" in client.predict("？？？", api_name="/ask")
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/ask"]
    output = app_server.output()
    assert f"Chat UI ready at http://127.0.0.1:{app_server.port}" in output, output
    assert "Traceback" not in output
    print(f"app.py answered after {app_server.ready_after:.1f} s")
    assert app_server.ready_after < 60  # with a built index


def run_example(args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{args} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_example_against_a_running_server(api_server, e2e_env, tmp_path: Path) -> None:
    out = run_example(["bash", "examples/curl.sh", api_server.url], e2e_env)
    assert "四.十一" in out and "（十一）支持黄河流域生态保护" in out and "引导银行保险机构" in out
    assert "k: Input should be greater than or equal to 1" in out

    # Without jq the script prints the raw JSON.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("curl", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    raw = run_example([shutil.which("bash"), "examples/curl.sh", api_server.url], {**e2e_env, "PATH": str(bin_dir)})
    assert f'"clause_id":"{YELLOW_RIVER}"' in raw and '"status":"ok"' in raw


def test_serve_with_ui_mounts_the_chat_beside_the_api(api_server) -> None:
    with urllib.request.urlopen(f"{api_server.url}/", timeout=30) as page:
        assert page.status == 200 and "text/html" in page.headers["content-type"]
    with urllib.request.urlopen(f"{api_server.url}/openapi.json", timeout=30) as spec:
        paths = json.load(spec)["paths"]
    assert "/api/search" in paths and not any(p.startswith("/gradio_api") for p in paths)
    request = urllib.request.Request(
        f"{api_server.url}/api/search",
        data=json.dumps({"query": "哪些措施支持黄河流域的生态保护？", "k": 3}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        assert json.load(r)["hits"][0]["clause_id"] == YELLOW_RIVER
    output = api_server.output()
    assert "Serving http://127.0.0.1" in output and "the chat UI at /" in output and "Traceback" not in output


def test_servers_stop_promptly_on_sigterm(app_server, api_server) -> None:
    # (the last test of the module: both servers are stopped here and not used again)
    for server in (api_server, app_server):
        assert server.stop() < 15, server.output()[-2000:]
        assert "Traceback" not in server.output()
