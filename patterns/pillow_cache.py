"""Pillow for the bundled image processor's Lambda layer: fetched once into a local cache, never at synth.

Lambda runs the processor on arm64 with ``SecureFunction``'s Python (3.14), so the layer needs the
Pillow wheel built for that platform, not the host's. ``python -m patterns.pillow_cache`` downloads
the pinned wheel with pip (``--require-hashes``: the SHA-256 below must match), repacks it as the
layer archive ``<cache>/<LAYER_NAME>.zip`` (every file under ``python/``, which Lambda mounts at
``/opt/python``; entries keep the wheel's timestamps, so the archive and its asset hash are the same
on every machine) and is a no-op when that archive exists. ``make install`` runs it; a synth only
reads the archive (one file to hash and stage, not thousands) and raises ``PillowLayerMissing``
naming this command when it is not there.

The cache is ``$SERVERLESS_PATTERNS_CACHE``, else ``$XDG_CACHE_HOME/serverless-patterns``, else
``~/.cache/serverless-patterns``. This module imports no CDK, so the command is quick.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

PILLOW_VERSION = "13.0.0"
#: The one wheel the layer is made of: CPython 3.14 on manylinux 2.28 aarch64 (Lambda's arm64).
PILLOW_WHEEL = f"pillow-{PILLOW_VERSION}-cp314-cp314-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl"
PILLOW_WHEEL_SHA256 = "5933fcea5a5ba64c686f55c886a115cbfd92f2900460784a1e79909fdbafd7b6"
PYTHON_VERSION = "3.14"
PLATFORM = "manylinux_2_28_aarch64"
LAYER_NAME = f"pillow-{PILLOW_VERSION}-cp314-aarch64"
#: The command that fills the cache, as error messages and docs print it.
FETCH_COMMAND = "python -m patterns.pillow_cache"
CACHE_ENV = "SERVERLESS_PATTERNS_CACHE"


class PillowLayerMissing(ValueError):
    """The Pillow layer folder is not in the cache; the message names the command that fills it."""


def cache_dir() -> Path:
    """Where fetched layers are kept."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "serverless-patterns"


def layer_zip() -> Path:
    """The layer archive (``python/PIL/...``)."""
    return cache_dir() / f"{LAYER_NAME}.zip"


def ready_layer_zip() -> Path:
    """The layer archive, or ``PillowLayerMissing`` telling how to fetch it (nothing is downloaded here)."""
    archive = layer_zip()
    if not archive.is_file():
        raise PillowLayerMissing(
            f"the bundled image processor needs Pillow {PILLOW_VERSION} for Lambda arm64/Python {PYTHON_VERSION}, "
            f"which is not in {archive}. Fetch it once (pinned, hash-checked) with: {FETCH_COMMAND}  "
            f"(or pass pillow_layer= / processor= / processor_code= to ObjectPipeline)"
        )
    return archive


def fetch(log: Callable[[str], object] = print) -> Path:
    """Download, verify and repack the pinned wheel unless the layer archive is already there."""
    archive = layer_zip()
    if archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=archive.parent) as work:
        requirements = Path(work) / "requirements.txt"
        requirements.write_text(f"pillow=={PILLOW_VERSION} --hash=sha256:{PILLOW_WHEEL_SHA256}\n", encoding="utf-8")
        downloads = Path(work) / "wheels"
        log(f"fetching Pillow {PILLOW_VERSION} for Lambda ({PLATFORM}, Python {PYTHON_VERSION}) into {archive}")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--require-hashes",
                "--only-binary=:all:",
                "--platform",
                PLATFORM,
                "--python-version",
                PYTHON_VERSION,
                "--implementation",
                "cp",
                "-r",
                str(requirements),
                "-d",
                str(downloads),
            ],
            check=True,
        )
        wheel = downloads / PILLOW_WHEEL
        # pip checked the hash; checked again here so a wheel swapped in the download folder cannot pass.
        if not wheel.is_file() or hashlib.sha256(wheel.read_bytes()).hexdigest() != PILLOW_WHEEL_SHA256:
            raise RuntimeError(f"{PILLOW_WHEEL} is missing or does not match its pinned SHA-256")
        staging = Path(work) / archive.name
        with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as layer:
            for entry in source.infolist():
                moved = zipfile.ZipInfo(f"python/{entry.filename}", date_time=entry.date_time)
                moved.external_attr = entry.external_attr
                moved.compress_type = zipfile.ZIP_DEFLATED
                layer.writestr(moved, source.read(entry))
        staging.replace(archive)  # atomic: a half-written archive is never taken for a layer
    return archive


if __name__ == "__main__":
    print(fetch())
