"""The program a ``pip_install`` build step runs inside its container, sharing downloads between builds.

pip's own HTTP cache reuses a download only when the index sent caching
headers, which proxies and mirrors often strip. So the step first asks pip
what it would install (``pip install --dry-run --report``: resolved against
the index and the image's installed packages, exactly as a plain install
resolves), then takes each file from the shared wheelhouse by its sha256 (the
index's own hash, so a cached file is the very file the index serves) or
downloads it there, and installs those files with ``--no-deps``. What gets
installed is therefore what ``pip install`` would install; only the downloads
are saved. Anything this cannot reproduce exactly (pip options, local paths,
VCS or unhashed URLs, a pip without ``--report``) runs as a plain ``pip install``.

This file is not imported by the server: its source is the step's script.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import unquote, urlparse

WHEELHOUSE = "/root/.cache/pip/oc-wheelhouse"


class Plain(Exception):
    """Why this step installs with a plain ``pip install``."""


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(packages):
    try:
        if any(p.startswith("-") for p in packages):
            raise Plain("pip options are given")
        os.makedirs(WHEELHOUSE, exist_ok=True)
        scratch = tempfile.mkdtemp(dir=WHEELHOUSE, prefix=".build.")
        try:
            files = fetch(packages, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except Plain as why:
        print(f"oc-jupyter: {why}; installing without the shared download cache", flush=True)
        return subprocess.call([sys.executable, "-m", "pip", "install", *packages])
    if not files:
        print("Requirements already satisfied: " + " ".join(packages), flush=True)
        return 0
    return subprocess.call([sys.executable, "-m", "pip", "install", "--no-deps", *files])


def fetch(packages, scratch):
    """The files ``pip install packages`` would install, each taken from the wheelhouse or downloaded into it."""
    report = os.path.join(scratch, "report.json")
    print("Resolving " + " ".join(packages), flush=True)
    resolved = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", report, *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    if resolved.returncode != 0:
        raise Plain("pip could not report what it would install")
    files = []
    with open(report) as f:
        items = json.load(f)["install"]
    for item in items:
        info = item.get("download_info", {})
        url, digest = info.get("url", ""), info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not url.startswith(("https://", "http://")) or not digest:
            raise Plain(f"{item['metadata']['name']} does not come from an index with a sha256")
        name = unquote(os.path.basename(urlparse(url).path))
        folder = os.path.join(WHEELHOUSE, digest)
        cached = os.path.join(folder, name)
        if os.path.isfile(cached) and sha256(cached) == digest:
            print(f"Using cached {name} from the build cache", flush=True)
        else:
            got = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", scratch, url], check=False
            )
            fetched = os.path.join(scratch, name)
            if got.returncode != 0 or not os.path.isfile(fetched) or sha256(fetched) != digest:
                raise Plain(f"{name} could not be fetched with its index's sha256")
            os.makedirs(folder, exist_ok=True)
            # A rename is atomic: a concurrent build sees the whole file or none.
            os.replace(fetched, cached)
        files.append(cached)
    return files


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
