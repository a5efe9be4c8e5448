"""The repository's conformance kit (participant-sdk/dist/conformance/cli.js) against this
participant. Needs node and the built kit: run `npx tsc -b` at the root first (scripts/test.sh does)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import ROOT, start

REPO = ROOT.parent.parent
CLI = REPO / "participant-sdk" / "dist" / "conformance" / "cli.js"


@pytest.mark.parametrize("options", [{}, {"latency_seconds": 0.2, "in_progress_wait_seconds": 0}])
def test_conformance_kit_passes_every_rule(options) -> None:
    assert shutil.which("node"), "node is not installed; the conformance kit runs on Node.js"
    assert CLI.is_file(), f"{CLI} is not built: run `npx tsc -b` at the repository root"
    participant = start(**options)
    try:
        run = subprocess.run(
            [
                "node",
                str(CLI),
                "--target",
                participant.address,
                "--step",
                "charge",
                "--payload",
                '{"amount":10}',
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        participant.stop(1)
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "8 passed, 0 failed" in run.stdout
