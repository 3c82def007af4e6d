"""The OpenComputer wire contract, shared by the SDK and the local server.

Nothing here performs I/O or imports the SDK, the server, IPython or FastAPI:

* :mod:`.gojson`: Go ``encoding/json`` bytes and the manifest's ``contentHash``;
* :mod:`.manifest`: the manifest schema (pydantic models) and its layer hashes;
* :mod:`.describe`: the one human description of a build step;
* :mod:`.validate`: the text, path and environment-name rules every layer applies;
* :mod:`.events`: the build-log event vocabulary and the ``Step i/N:`` prefix;
* :mod:`.codes`: the machine-readable error codes of the error envelope.
"""
