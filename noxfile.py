"""`make test-all`: the test suite on every Python version the package claims (its classifiers).

An interpreter the machine does not have is skipped and reported (``nox --error-on-missing-interpreters``
makes that an error, as CI does).
"""

from __future__ import annotations

import re
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
CLAIMED = re.findall(r'"Programming Language :: Python :: (3\.\d+)"', (ROOT / "pyproject.toml").read_text())

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session(python=CLAIMED)
def tests(session: nox.Session) -> None:
    session.install("-r", "requirements-dev.txt", "-c", "constraints.txt")
    session.run("python", "-m", "pytest", "-n", "2", "--dist", "worksteal", *session.posargs)
