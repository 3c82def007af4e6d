"""The manifest's Go-JSON encoding and content hash, checked against hand-derived Go output.

Go's ``encoding/json`` (``json.Marshal``) writes: struct fields in declaration
order (manifest ``base, steps``; step ``type, args``), map keys sorted, no
whitespace, ``<>&`` as ``\\u003c \\u003e \\u0026``, U+2028/U+2029 escaped,
``\\b \\f \\n \\r \\t`` short, other controls as ``\\u00XX`` (lowercase hex),
DEL and all other non-ASCII as raw UTF-8. The expected bytes below were
written out by hand from those rules; the digests are their SHA-256.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oc_jupyter.sdk import Image
from oc_jupyter.sdk.hashing import Blob, content_hash, go_json, go_string, iter_body_bytes, iter_manifest_json

TABLE = [
    (
        "empty",
        Image.base(),
        b'{"base":"base","steps":[]}',
        "485f603ddf675cfc9b285fed0d9d5e85c4c09c66e8cb4fc0cc0720acc08874ef",
    ),
    (
        "packages with >",
        Image.base().apt_install(["curl", "jq"]).pip_install(["requests", "pandas>=2"]),
        b'{"base":"base","steps":[{"type":"apt_install","args":{"packages":["curl","jq"]}},'
        b'{"type":"pip_install","args":{"packages":["requests","pandas\\u003e=2"]}}]}',
        "22bafc295611ce628eda0bbaf869b4f16b6c82189e4873fa5b0dde13a01b1736",
    ),
    (
        "env map sorted, html escaped",
        Image.base().env({"Z": "1", "A": "<b>&c", "_b": "x"}),
        b'{"base":"base","steps":[{"type":"env","args":{"vars":{"A":"\\u003cb\\u003e\\u0026c","Z":"1","_b":"x"}}}]}',
        "343683309527dfbdcfc18af14f43a76d553219d15e592372674517c5b204d97c",
    ),
    (
        "unicode raw, line separators escaped",
        Image.base().run_commands("echo h\u00e9llo \u65e5\u672c \u2028 \u2029 \U0001f600"),
        '{"base":"base","steps":[{"type":"run","args":{"commands":'
        '["echo h\u00e9llo \u65e5\u672c \\u2028 \\u2029 \U0001f600"]}}]}'.encode(),
        "47041f39891e44530140960af69dc80a57d44bb572d3dcd52523926c25b40de2",
    ),
    (
        "control characters",
        Image.base().run_commands("printf 'a\tb\nc\rd\be\ff\x01g\x1fh\x7fi\"j\\k'"),
        b'{"base":"base","steps":[{"type":"run","args":{"commands":'
        b'["printf \'a\\tb\\nc\\rd\\be\\ff\\u0001g\\u001fh\x7fi\\"j\\\\k\'"]}}]}',
        "353dff7d9759c401c6ba6956e6384d0b624461e44196535d7a854dbd52907a71",
    ),
]


@pytest.mark.parametrize("name,image,canonical,digest", TABLE, ids=[row[0] for row in TABLE])
def test_cache_key_matches_go_encoding(name, image, canonical, digest):
    pieces = iter_manifest_json(image.base_image, [(s.type, s.args) for s in image.steps])
    assert b"".join(iter_body_bytes(pieces)) == canonical
    assert hashlib.sha256(canonical).hexdigest() == digest
    assert image.cache_key() == digest


def test_cache_key_of_embedded_files(tmp_path):
    folder = tmp_path / "d"
    (folder / "a b").mkdir(parents=True)
    (folder / "a b" / "&.txt").write_bytes(b"")
    (folder / "z.bin").write_bytes(b"\x00\x01\xff")
    image = Image.base().workdir("/workspace").add_file("/w/hi.txt", "hi").add_local_dir(folder, "/w/d")
    canonical = (
        b'{"base":"base","steps":[{"type":"workdir","args":{"path":"/workspace"}},'
        b'{"type":"add_file","args":{"content":"aGk=","encoding":"base64","path":"/w/hi.txt"}},'
        b'{"type":"add_dir","args":{"files":[{"content":"","relativePath":"a b/\\u0026.txt"},'
        b'{"content":"AAH/","relativePath":"z.bin"}],"path":"/w/d"}}]}'
    )
    assert hashlib.sha256(canonical).hexdigest() == "0c916c57092471e2a83ec02cfcc8dfe3fc3604059e206849eef51160d75219d0"
    assert image.cache_key() == "0c916c57092471e2a83ec02cfcc8dfe3fc3604059e206849eef51160d75219d0"


def test_builder_memory_is_not_hashed_but_is_sent():
    plain = Image.base().pip_install(["numpy"])
    roomy = plain.builder_memory(4096)
    assert roomy.cache_key() == plain.cache_key()
    assert roomy.to_dict()["builderMemoryMB"] == 4096
    assert go_json({"image": roomy}).endswith(',"builderMemoryMB":4096}}')


def test_official_client_key_differs_from_server_key():
    """The official client sorts every key and escapes non-ASCII; ours must not."""
    image = Image.base().env({"A": "caf\u00e9"})
    official = hashlib.sha256(
        json.dumps(
            {"base": "base", "steps": [s.to_dict() for s in image.steps]}, sort_keys=True, separators=(",", ":")
        ).encode()
    ).hexdigest()
    assert image.cache_key() != official


# ── properties ──────────────────────────────────────────────────────────


def go_reference_string(text: str) -> str:
    """Go's encodeState.appendString with HTML escaping, transcribed rune by rune."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_reference_value(value) -> str:
    if isinstance(value, str):
        return go_reference_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(go_reference_string(k) + ":" + go_reference_value(value[k]) for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_reference_value(v) for v in value) + "]"
    raise TypeError(value)


def go_reference_manifest(manifest: dict) -> bytes:
    steps = ",".join(
        '{"type":' + go_reference_string(s["type"]) + ',"args":' + go_reference_value(s["args"]) + "}"
        for s in manifest["steps"]
    )
    return ('{"base":' + go_reference_string(manifest["base"]) + ',"steps":[' + steps + "]}").encode("utf-8")


texts = st.text(st.characters(codec="utf-8"), max_size=40)


@given(texts)
def test_strings_encode_like_go(text):
    assert go_string(text) == go_reference_string(text)
    assert json.loads(go_string(text)) == text


json_values = st.recursive(
    texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_values_round_trip_with_sorted_keys(value):
    encoded = go_json(value)
    assert json.loads(encoded) == value
    assert encoded == go_reference_value(value)


def _apply(image: Image, op: tuple) -> Image:
    kind, payload = op
    if kind == "apt":
        return image.apt_install(payload)
    if kind == "run":
        return image.run_commands(*payload)
    if kind == "env":
        return image.env(payload)
    if kind == "workdir":
        return image.workdir(payload)
    return image.add_file(payload[0], payload[1])


# Remote paths are refused with NUL or line breaks, and file paths must not name a folder.
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00\n\r"), min_size=1, max_size=12).filter(
    lambda s: s.strip() and not s.endswith("/")
)
env_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
paths = names.map(lambda s: "/" + s)
ops = st.one_of(
    st.tuples(st.just("apt"), st.lists(names, min_size=1, max_size=3)),
    st.tuples(st.just("run"), st.lists(names, min_size=1, max_size=3)),
    st.tuples(
        st.just("env"),
        st.dictionaries(
            env_names,
            st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10),
            min_size=1,
            max_size=3,
        ),
    ),
    st.tuples(st.just("workdir"), paths),
    st.tuples(st.just("file"), st.tuples(paths, st.binary(max_size=64) | texts)),
)


@settings(max_examples=150)
@given(st.lists(ops, max_size=6))
def test_cache_key_equals_reference_hash_of_wire_manifest(operations):
    image = Image.base()
    for op in operations:
        image = _apply(image, op)
    manifest = image.to_dict()
    assert image.cache_key() == hashlib.sha256(go_reference_manifest(manifest)).hexdigest()
    # Equal manifests built twice hash equally; the wire form survives JSON.
    again = Image.base()
    for op in operations:
        again = _apply(again, op)
    assert again.cache_key() == image.cache_key()
    assert json.loads(go_json({"image": image}))["image"] == manifest


@given(st.binary(max_size=3 * 300_000 + 5))
@settings(max_examples=20)
def test_blob_streams_the_same_base64_as_a_whole_encode(data):
    blob = Blob(data)
    streamed = b"".join(blob.iter_encoded())
    assert streamed == ('"' + blob.base64() + '"').encode()
    assert blob.encoded_length() == len(streamed)


def test_content_hash_accepts_plain_wire_args():
    """The local server hashes decoded wire args (base64 as text) with the same function."""
    image = Image.base().add_file("/a", b"\x00payload")
    wire = image.to_dict()
    assert content_hash(wire["base"], [(s["type"], s["args"]) for s in wire["steps"]]) == image.cache_key()
