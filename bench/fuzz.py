"""Long fuzz runs of the targets in `tests/fuzz/targets.py` (the ones CI runs with hypothesis).

    .venv/bin/python bench/fuzz.py --examples 200000            # seeded random loop, all targets
    .venv/bin/python bench/fuzz.py --examples 50000 --target resolve --seed 7
    .venv/bin/python bench/fuzz.py --atheris --seconds 120        # coverage-guided, if atheris is installed

Prints inputs tried, exceptions (must be 0), the slowest input, time and peak RSS; exits 1 when
any target raised or one input took longer than --hang-seconds. A plain loop rather than
hypothesis because hypothesis' per-example bookkeeping would cost more than the targets; the
choices come from the same `Draw` interface, so the inputs have the same shapes.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import random
import re
import resource
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from tests.fuzz.draw import Draw, RandomDraw  # noqa: E402

TARGET_NAMES = ("als_messages", "flatnode", "headers", "node", "resolve", "struct_bytes")


def _targets(instrument: bool = False) -> Any:
    """The targets module, imported late: for atheris, `bridge` must be imported under its
    instrumentation (instrumenting every loaded function instead takes minutes)."""
    if not instrument:
        from tests.fuzz import targets
    else:
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

        with atheris.instrument_imports(include=["bridge"]):
            from tests.fuzz import targets
    return targets


@dataclass
class FuzzResult:
    """What one run found; `bench/reliability.py` reports it as is."""

    driver: str
    inputs: int = 0
    exceptions: int = 0  # new bugs: must be 0
    known_bug_hits: dict[str, int] = field(default_factory=dict)  # reported bugs, see tests/fuzz/targets.py
    seconds: float = 0.0
    slowest_input_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    per_target: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # "target: ExceptionType: message" -> count
    first_tracebacks: list[str] = field(default_factory=list)


def peak_rss_mib() -> float:
    """This process' peak resident set (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Runner:
    """Runs targets and books every outcome; an exception is recorded, never propagated."""

    def __init__(self, result: FuzzResult, hang_seconds: float, instrument: bool = False) -> None:
        targets = _targets(instrument)
        self._targets, self._known_bug = targets.TARGETS, targets.KnownBug
        self.result = result
        self.hang_seconds = hang_seconds
        self._counts: collections.Counter[str] = collections.Counter()

    def run(self, name: str, draw: Draw) -> None:
        started = time.perf_counter()
        try:
            self._targets[name](draw)
        except self._known_bug as bug:
            self.result.known_bug_hits[str(bug)] = self.result.known_bug_hits.get(str(bug), 0) + 1
        except Exception as err:  # the point of the run: book it and go on
            self._record_failure(name, err)
        elapsed = time.perf_counter() - started
        self.result.slowest_input_seconds = max(self.result.slowest_input_seconds, elapsed)
        self.result.inputs += 1
        self._counts[name] += 1

    def _record_failure(self, name: str, err: Exception) -> None:
        self.result.exceptions += 1
        key = f"{name}: {type(err).__name__} at {_where(err)}: {str(err)[:80]}"
        key = re.sub(r"-?\d{3,}", "N", key)  # KeyError: 12345 and KeyError: 678 are one bug
        self.result.failures[key] = self.result.failures.get(key, 0) + 1
        if len(self.result.first_tracebacks) < 5 and self.result.failures[key] == 1:
            self.result.first_tracebacks.append(traceback.format_exc())

    def finish(self, started: float) -> FuzzResult:
        self.result.seconds = round(time.monotonic() - started, 2)
        self.result.per_target = dict(self._counts)
        self.result.peak_rss_mib = round(peak_rss_mib(), 1)
        self.result.slowest_input_seconds = round(self.result.slowest_input_seconds, 4)
        return self.result


def _where(err: BaseException) -> str:
    """The innermost frame in the bridge (or else anywhere): groups one bug's many inputs."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "/bridge/" in f.filename] or frames
    last = ours[-1]
    return f"{Path(last.filename).name}:{last.lineno}"


def run_random(
    examples: int, seconds: float, targets: list[str], seed: int, hang_seconds: float
) -> FuzzResult:
    """`examples` inputs round-robin over `targets` (or until `seconds` pass), from one seeded RNG."""
    runner = _Runner(FuzzResult("random"), hang_seconds)
    rng = random.Random(seed)
    draw = RandomDraw(rng)
    started = time.monotonic()
    for i in range(examples):
        runner.run(targets[i % len(targets)], draw)
        if seconds and i % 256 == 0 and time.monotonic() - started > seconds:
            break
    return runner.finish(started)


def run_atheris(
    examples: int, seconds: float, targets: list[str], hang_seconds: float, done: Callable[[FuzzResult], None]
) -> None:
    """Coverage-guided: atheris' bytes choose the target and every draw (`AtherisDraw`).

    libFuzzer owns the loop and ends the process itself, so `done` is called from inside the
    loop once the budget is spent, and must exit.
    """
    import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]  # optional: pip install atheris

    from bench._atheris_draw import AtherisDraw

    runner = _Runner(FuzzResult("atheris"), hang_seconds, instrument=True)
    started = time.monotonic()

    def one_input(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        name = targets[provider.ConsumeIntInRange(0, len(targets) - 1)]
        runner.run(name, AtherisDraw(provider))
        if runner.result.inputs >= examples or (seconds and time.monotonic() - started > seconds):
            done(runner.finish(started))

    artifacts = tempfile.mkdtemp(prefix="als-bridge-atheris-")  # never litter the working tree
    args = [
        sys.argv[0],
        f"-timeout={int(hang_seconds) + 1}",
        f"-artifact_prefix={artifacts}/",
        "-rss_limit_mb=4096",
    ]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=200_000, help="inputs to try in all (default 200000)")
    parser.add_argument(
        "--seconds", type=float, default=0, help="stop after this long too (0: no time limit)"
    )
    parser.add_argument("--target", action="append", choices=TARGET_NAMES, help="only these (repeatable)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--hang-seconds", type=float, default=5.0, help="one input slower than this fails the run"
    )
    parser.add_argument("--atheris", action="store_true", help="coverage-guided with atheris")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    logging.getLogger("bridge").setLevel(logging.CRITICAL)  # bad input is the point; its warnings are noise
    targets = args.target or list(TARGET_NAMES)

    def finish(result: FuzzResult) -> int:
        report(result)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(asdict(result), indent=2))
        return 0 if result.exceptions == 0 and result.slowest_input_seconds <= args.hang_seconds else 1

    if args.atheris:
        run_atheris(
            args.examples, args.seconds, targets, args.hang_seconds, lambda r: os._exit(_flushed(finish(r)))
        )
    return finish(run_random(args.examples, args.seconds, targets, args.seed, args.hang_seconds))


def _flushed(code: int) -> int:
    """`os._exit` skips the interpreter's flush of stdout."""
    sys.stdout.flush()
    return code


def report(result: FuzzResult) -> None:
    print(f"driver            {result.driver}")
    per_target = ", ".join(f"{k} {v}" for k, v in sorted(result.per_target.items()))
    print(f"inputs tried      {result.inputs}  ({per_target})")
    print(f"exceptions        {result.exceptions}")
    if result.known_bug_hits:
        print(f"known bugs hit    {result.known_bug_hits}  (reported; not counted as exceptions)")
    print(
        f"time              {result.seconds:.1f} s ({result.inputs / max(result.seconds, 1e-9):.0f} inputs/s)"
    )
    print(f"slowest input     {result.slowest_input_seconds * 1000:.1f} ms")
    print(f"peak RSS          {result.peak_rss_mib:.0f} MiB")
    for key, count in sorted(result.failures.items(), key=lambda kv: -kv[1]):
        print(f"  {count:6d} x {key}")
    for tb in result.first_tracebacks:
        print(tb)


if __name__ == "__main__":
    sys.exit(main())
