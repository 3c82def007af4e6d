"""``%oc_expose`` in a real kernel against the real local server and a real sandbox."""

from __future__ import annotations

import re
import time

import httpx

LOAD = "%load_ext oc_jupyter"
SERVE = "%oc_run python3 -m http.server 8000 --bind 127.0.0.1 > /dev/null 2>&1 &"


def _until_up(url: str, headers: dict) -> httpx.Response:
    for _ in range(150):
        response = httpx.get(url, headers=headers, timeout=30)
        if response.status_code != 502:
            return response
        time.sleep(0.2)
    return response


def test_expose_links_through_the_jupyter_server_and_closes(notebook, local_server):
    base = "/user/ana/oc-jupyter/proxy/"
    run = notebook(
        [
            LOAD,
            SERVE,
            "%oc_expose 8000",
            "%oc_expose --close 8000",
            (
                "from oc_jupyter.sdk import sync\n"
                "sb = list(get_ipython().find_line_magic('oc_expose').__self__.state.implicit.values())[0]\n"
                "print(sync.run(sb.list_preview_urls()))"
            ),
        ],
        env_extra={"OC_JUPYTER_PROXY_BASE": base},
    )
    text = run.text(2)
    match = re.search(r"Port 8000 of sandbox (sb-[0-9a-f]+): (\S+) ", text)
    assert match, text
    sandbox_id, link = match.groups()
    assert link == f"{base}{sandbox_id}/8000/"
    assert f'href="{link}"' in run.html(2)
    assert local_server.key not in text + run.html(2)
    assert run.text(3).strip() == f"Port 8000 of sandbox {sandbox_id} is no longer exposed."
    assert run.text(4).strip() == "[]"


def test_expose_outside_jupyter_names_the_backend_url(notebook, local_server):
    fetch = (
        "import httpx, time\n"
        "sb = list(get_ipython().find_line_magic('oc_expose').__self__.state.implicit.values())[0]\n"
        "for _ in range(150):\n"
        "    r = httpx.get(f'{sb.config.api_url}/preview/{sb.id}/8000/', headers={'X-API-Key': sb.config.api_key})\n"
        "    if r.status_code != 502:\n"
        "        break\n"
        "    time.sleep(0.2)\n"
        "print(r.status_code, 'Directory listing' in r.text)"
    )
    run = notebook([LOAD, SERVE, "%oc_expose 8000", fetch])
    match = re.search(r"Port 8000 of sandbox (sb-[0-9a-f]+): (\S+) ", run.text(2))
    assert match, run.text(2)
    sandbox_id, link = match.groups()
    assert link == f"{local_server.url}/preview/{sandbox_id}/8000/"
    assert "Authorization: Bearer" in run.text(2)
    assert run.text(3).strip() == "200 True"  # the server %oc_run started answers through the preview
    # The kernel has exited (and killed its sandbox) by now, so only the refusal can be checked here;
    # a page served through an exposed port is tested in tests/local/test_previews.py and tests/lab/test_proxy.py.
    assert httpx.get(link, timeout=30).status_code == 401


def test_expose_mistakes_are_one_line(notebook):
    run = notebook(
        [
            LOAD,
            "%oc_expose",
            "%oc_expose web",
            "%oc_expose 70000",
            "%oc_expose 80 --close 80",
            "%oc_expose 8000",
            "%oc_expose 8000 --sandbox sb-0000000000000000",
            "print(get_ipython().find_line_magic('oc_expose').__doc__)",
        ],
        allow_errors=True,
    )
    messages = [run.errors(i)[0]["evalue"] for i in range(1, 7)]
    assert messages[0].startswith("Give the port to expose, for example %oc_expose 8000")
    assert messages[1] == "PORT must be a whole number from 1 to 65535, got 'web'; for example %oc_expose 8000."
    assert "'70000'" in messages[2]
    assert messages[3].startswith("Give a PORT to expose or --close PORT, not both")
    assert messages[4].startswith("Which sandbox? Pass --sandbox ID")
    assert "No sandbox 'sb-0000000000000000'" in messages[5]
    assert "%oc_expose --close 8000" in run.text(7) and "WebSocket" in run.text(7)
