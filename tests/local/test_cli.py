"""`python -m patterns.local`: clear errors for a bad assembly or stack, a run that Ctrl-C ends cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from patterns.local.runner import summarize_skipped

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "patterns.local", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_a_missing_assembly_says_to_synthesize_first(tmp_path):
    result = cli("--assembly", str(tmp_path / "cdk.out"))
    assert result.returncode == 2
    assert "manifest.json not found" in result.stderr and "make synth" in result.stderr


def test_an_unknown_stack_lists_the_stacks_there_are(demo_app):
    result = cli("--assembly", str(demo_app.outdir), "--stack", "NoSuchStack")
    assert result.returncode == 2
    assert "'NoSuchStack'" in result.stderr and "ItemsServiceDemo" in result.stderr


def test_a_malformed_user_is_refused_without_echoing_the_password(demo_app):
    result = cli("--assembly", str(demo_app.outdir), "--user", "no-password-here")
    assert result.returncode == 2 and "error:" in result.stderr


def _children(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc), so the test can see the run left nothing behind."""
    found, frontier = set(), {pid}
    while frontier:
        parent = frontier.pop()
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                child = int(status.parent.name)
                found.add(child)
                frontier.add(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_ctrl_c_stops_the_endpoint_the_servers_and_every_worker(demo_app):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "patterns.local",
            "--assembly",
            str(demo_app.outdir),
            "--stack",
            "ApiLambdaTableDemo",
            "--port",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if "ready;" in line or not line:
                break
        text = "".join(output)
        (url,) = re.findall(r"REST API \S+: (http://127\.0\.0\.1:\d+/prod/)", text)
        with pytest.raises(urllib.error.HTTPError) as refused:  # IAM-authorized: unsigned requests are refused
            urllib.request.urlopen(f"{url}items", timeout=10)
        assert refused.value.code == 403
        started = _children(process.pid)
        assert started, "the run started no moto server"

        process.send_signal(signal.SIGINT)
        # communicate() reads the output while waiting: a run that logs more than a pipe holds while
        # stopping would otherwise block on its own output and look hung.
        rest, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        assert "stopping" in rest
        assert not [pid for pid in started if _alive(pid)]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_skipped_resources_are_summarized_per_type_and_reason():
    lines = [
        "AlarmA (AWS::CloudWatch::Alarm): alarms are not evaluated locally",
        "AlarmB (AWS::CloudWatch::Alarm): alarms are not evaluated locally",
        "Pool (AWS::Cognito::UserPool): MFA (MfaConfiguration ON) is not enforced locally",
        "free text",
    ]
    assert summarize_skipped(lines) == [
        "2 x AWS::CloudWatch::Alarm: alarms are not evaluated locally",
        "Pool (AWS::Cognito::UserPool): MFA (MfaConfiguration ON) is not enforced locally",
        "free text",
    ]
