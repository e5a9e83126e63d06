"""Where the operator's time went, from a py-spy recording (`run.py --profile DIR`).

    .venv/bin/python tests/bench/flame.py DIR/tail.txt [--top 30]

Reads py-spy's raw (collapsed) format, one stack per line with its sample count, and prints:
- each sample charged to the innermost frame that belongs to a known part (JSON, logging, TLS
  and sockets, aiohttp, our writer and client, our view and plans, kopf's watching, kopf's event
  processing, the loop itself): the parts' own time;
- the inclusive share of the frames that matter (kopf's worker, each of our handlers, the daemons),
  and the heaviest functions by inclusive time (`--top`).
Only the event loop's thread is counted (the metrics server's thread is idle in its own loop).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# The first that matches, looking from the innermost frame outwards, owns the sample.
PARTS = [
    ("JSON", re.compile(r"json/|orjson")),
    ("logging", re.compile(r"logging/")),
    ("TLS and sockets", re.compile(r"ssl\.py|sslproto|selector_events|socket\.py|uvloop")),
    ("aiohttp", re.compile(r"aiohttp/|multidict|yarl")),
    ("our writer and client", re.compile(r"statuspage_operator/(control/(writer|retry)|k8s/)")),
    ("our notifications", re.compile(r"statuspage_operator/control/notifications")),
    ("our view, plans and rules", re.compile(r"statuspage_operator/(?!main\.py)")),
    ("kopf's watching", re.compile(r"kopf/_cogs/clients/")),
    ("kopf's event processing", re.compile(r"kopf/")),
    ("the loop (asyncio)", re.compile(r"asyncio/")),
]
FRAME = re.compile(r":\d+\)$")
# The main thread runs the event loop (asyncio's or uvloop's): its stacks start in main.py.
MAIN = "statuspage_operator/main.py"


def read(path: Path) -> list[tuple[list[str], int]]:
    """The event loop thread's stacks and their sample counts."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if any(MAIN in frame for frame in frames):
            stacks.append(([FRAME.sub(")", frame) for frame in frames], int(count)))
    return stacks


def owner(frames: list[str]) -> str:
    """The part that owns a sample."""
    for frame in reversed(frames):
        for name, pattern in PARTS:
            if pattern.search(frame):
                return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("recording", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    stacks = read(args.recording)
    total = sum(count for _, count in stacks)
    if not total:
        print("no samples of the event loop's thread")
        return
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        own[owner(frames)] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"{total} samples of the event loop's thread, busy (py-spy leaves idle ones out)")
    print("\nown time by part:")
    for name, count in own.most_common():
        print(f"  {count / total:6.1%}  {name}")
    print("\ninclusive, the heaviest functions:")
    skip = ("<module>", "main (", "run (", "Runner.run", "BaseEventLoop.run")
    shown = 0
    for frame, count in inclusive.most_common():
        if frame.startswith(skip) or "_run_once" in frame or "Handle._run" in frame:
            continue
        print(f"  {count / total:6.1%}  {frame}")
        shown += 1
        if shown == args.top:
            break


if __name__ == "__main__":
    main()
