"""Helpers shared by the benchmark scripts: medians, machine facts, result files, logging, settling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.emulator import DiscordEmulator

RESULTS_DIR = Path(__file__).resolve().parent / "results"

Number = int | float


def setup_logging(verbose: bool) -> None:
    """Benchmark progress at INFO; the bot's and the emulator's own logs only from WARNING unless verbose."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)-8s %(name)s: %(message)s",
    )
    logging.getLogger("bench").setLevel(logging.INFO)


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def medians(runs: Sequence[Mapping[str, Any]]) -> dict[str, Number]:
    """The median of every numeric field present in all runs."""
    if not runs:
        return {}
    keys = [
        key
        for key, value in runs[0].items()
        if isinstance(value, int | float) and not isinstance(value, bool) and all(key in run for run in runs)
    ]
    return {key: round(statistics.median(run[key] for run in runs), 4) for key in keys}


def write_json(name: str, data: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width table for the final figures."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells)
    return "\n".join(lines)


def publish(name: str, data: Mapping[str, Any], output: Path | None, report: str, met: bool) -> int:
    """Write the figures (to ``output`` or bench/results/<name>), print the table, and exit 0 only if met."""
    if output is None:
        path = write_json(name, data)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        path = output
    sys.stdout.write(report + "\n")
    logging.getLogger("bench").info("figures written to %s", path)
    return 0 if met else 1


def status_mb(pid: int, field: str) -> float:
    """A memory figure of a running process from /proc/<pid>/status (VmRSS, VmHWM...) in MB; NaN once it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def stop_process(process: asyncio.subprocess.Process, grace: float = 15.0) -> int | None:
    """SIGINT (the bot's own clean stop), then SIGTERM, then SIGKILL, each given ``grace`` seconds."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if process.returncode is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), grace)
    return process.returncode


async def settle(emu: DiscordEmulator, quiet_for: float = 1.0, at_most: float = 60.0) -> float:
    """Wait until the bot made no request for quiet_for seconds, at most at_most; returns the time waited."""
    start = time.monotonic()
    while time.monotonic() - start < at_most:
        last = emu.requests[-1].time if emu.requests else 0.0
        quiet = time.monotonic() - last
        if quiet >= quiet_for:
            break
        await asyncio.sleep(quiet_for - quiet + 0.01)
    return time.monotonic() - start
