"""The repository's conformance kit (participant-sdk/dist/conformance/cli.js) against this
participant. Skipped when node or the built kit is missing (run `npx tsc -b` at the root)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import ROOT, start

REPO = ROOT.parent.parent
CLI = REPO / "participant-sdk" / "dist" / "conformance" / "cli.js"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.skipif(not CLI.is_file(), reason=f"{CLI} not built: run `npx tsc -b` at the repository root")
@pytest.mark.parametrize("options", [{}, {"latency_seconds": 0.2, "in_progress_wait_seconds": 0}])
def test_conformance_kit_passes_every_rule(options) -> None:
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
