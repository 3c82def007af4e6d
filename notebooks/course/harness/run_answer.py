"""Runs as the ``student`` user: loads the answer and answers calls, one JSON line each.

Reads ``{"name", "args", "kwargs"}`` lines on stdin and writes ``{"value": …}``
or ``{"error": "…"}`` lines. What the answer prints goes to stderr, so it
cannot be mistaken for a result; a value that is not JSON is an error.
"""

import json
import os
import runpy
import sys
import traceback

replies = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def reply(**message) -> None:
    replies.write(json.dumps(message) + "\n")


try:
    namespace = runpy.run_path(sys.argv[1], run_name="answer")
except BaseException as exc:  # the answer's own fault, whatever it is
    loading_error = f"loading the answer raised {type(exc).__name__}: {exc}"
    traceback.print_exc()
else:
    loading_error = None

for line in sys.stdin:
    call = json.loads(line)
    if loading_error:
        reply(error=loading_error)
        continue
    function = namespace.get(call["name"])
    if not callable(function):
        reply(error=f"the answer defines no function {call['name']}()")
        continue
    try:
        value = function(*call["args"], **call["kwargs"])
        reply(value=json.loads(json.dumps(value)))
    except BaseException as exc:
        reply(error=f"{call['name']}() raised {type(exc).__name__}: {exc}")
