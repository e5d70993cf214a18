"""The regression guard: the inbound and send benchmarks for a reference commit and for the working
tree, alternating in one sitting, each figure printed as a ratio new/old.

    .venv/bin/python -m bench.compare REF [--rounds 2] [--seconds 3] [--senders 200]

REF (a commit, branch or tag; usually the last landed main) is checked out into a temporary
worktree and benchmarked with its own `bench/` scripts and the same Python, so both sides run
under the same load generator, interpreter and libraries.  Rounds alternate which side goes
first, so a machine that slows down during the sitting weighs on both.  The machine is shared:
read the medians, and a ratio below 0.90 is a loss to fix or explain before landing.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: figure name → (benchmark module, pattern of the figure in its output)
FIGURES: dict[str, tuple[str, re.Pattern[str]]] = {
    "inbound req/s": ("inbound", re.compile(r"^inbound STOP webhook.*?([\d,]+) req/s", re.M)),
    "send API req/s": ("send", re.compile(r"^send API: .*?([\d,]+) req/s", re.M)),
    "dispatch msg/s": ("send", re.compile(r"^dispatch: .*?: ([\d,]+) msg/s", re.M)),
}


def run(directory: Path, module: str, args: argparse.Namespace) -> str:
    extra = ["--senders", str(args.senders), "--per-sender", "20"] if module == "send" else []
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", "--seconds", str(args.seconds), *extra],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench.{module} failed in {directory}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def figures(output: str) -> dict[str, float]:
    found = {}
    for name, (_, pattern) in FIGURES.items():
        match = pattern.search(output)
        if match:
            found[name] = float(match.group(1).replace(",", ""))
    return found


def measure(directory: Path, args: argparse.Namespace) -> dict[str, float]:
    result: dict[str, float] = {}
    for module in dict.fromkeys(module for module, _ in FIGURES.values()):
        result.update(figures(run(directory, module, args)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ref", help="the commit to compare the working tree with (e.g. the last landed main)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--senders", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gateway-compare-") as temp:
        old_tree = Path(temp) / "ref"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(old_tree), args.ref], check=True
        )
        try:
            samples: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
            for round_ in range(args.rounds):
                sides = [("old", old_tree), ("new", ROOT)]
                for side, directory in sides if round_ % 2 == 0 else reversed(sides):
                    for name, value in measure(directory, args).items():
                        samples[side].setdefault(name, []).append(value)
                    print(
                        f"round {round_ + 1} {side}: "
                        + ", ".join(f"{name} {values[-1]:,.0f}" for name, values in samples[side].items()),
                        flush=True,
                    )
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)], check=False)

    print(f"\nmedians over {args.rounds} rounds, {args.ref} → working tree")
    for name in FIGURES:
        old, new = samples["old"].get(name), samples["new"].get(name)
        if not old or not new:
            print(f"{name:<16} not measured on {'both sides' if not old and not new else 'one side'}")
            continue
        ratio = statistics.median(new) / statistics.median(old)
        flag = "   LOSS over 10 %: fix or explain" if ratio < 0.9 else ""
        print(
            f"{name:<16} {statistics.median(old):>9,.0f} → {statistics.median(new):>9,.0f}   new/old {ratio:.2f}{flag}"
        )


if __name__ == "__main__":
    main()
