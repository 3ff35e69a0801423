"""Schemathesis against a live server: generated and mutated requests on every route
of the OpenAPI document, with a key in both auth headers so that the submit routes are
really exercised. No answer may be a 5xx or a status the document does not list, and
every other check schemathesis has must hold too.

One check is left out: `positive_data_acceptance` expects every body the JSON schema
allows to be accepted, but some models have rules across fields that a JSON schema does
not express (a title card needs a prompt or a title); those bodies get a 400 naming the
field, which is the right answer.

Bounded: a fixed seed, 25 examples per operation, at most 50 s of generation."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from tests.conftest import KEYS

pytest.importorskip("schemathesis")


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(server, tmp_path):
    cli = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    key = KEYS["alice"]
    report = tmp_path / "junit.xml"
    result = subprocess.run(
        [cli, "run", f"{server.url}/openapi.json",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",
         "-H", f"Authorization: Bearer {key}", "-H", f"X-API-Key: {key}",
         "--max-examples", "25", "--max-time", "50", "--seed", "19",
         "--generation-database", "none", "--no-color", "--workers", "2",
         "--request-timeout", "30",
         "--report", "junit", "--report-junit-path", str(report)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    problems = []
    if report.exists():
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            for failure in [*case.iter("failure"), *case.iter("error")]:
                text = (failure.get("message") or "") + (failure.text or "")
                problems.append(f"{case.get('name')}: {text[:1500]}")
    assert result.returncode == 0 and not problems, (
        "\n\n".join(problems) or result.stdout[-6000:] + result.stderr[-2000:])
