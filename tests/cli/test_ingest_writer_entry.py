"""`vigil serve`'s ingest writer process loads only what committing alerts needs, so it stays
far below issue #2's 200 MB per process under an alert storm."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("fastapi", "starlette", "typer", "jinja2", "vigil.api", "vigil.web", "vigil.cli.main")


def test_the_ingest_writer_loads_neither_the_app_nor_the_cli() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, vigil.cli.ingest_writer;"
            f" print(sorted(m for m in {HEAVY!r} if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"


def test_python_m_vigil_ingest_writer_goes_to_the_lean_entry_point() -> None:
    usage = subprocess.run(
        [sys.executable, "-m", "vigil", "ingest-writer", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert usage.stdout.startswith("usage: vigil ingest-writer [-h] --socket SOCKET")
