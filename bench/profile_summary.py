"""Where the time goes, from a `py-spy record --format raw` profile (bench/e2e_load.py --profile).

Each sample is put on the component nearest its leaf that is not the standard library (so a
socket write made by redis-py counts as redis-py, json.dumps called by the engine as the
engine); samples with only standard-library frames are the event loop itself. Also lists the
functions with the most samples of their own, and the inclusive share of the main entry points.

    python bench/profile_summary.py bench/out/r0-flowbot-0.pyspy.txt
"""

from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

COMPONENTS = [  # (substring of the frame's file, component); first match wins
    ("/redis/", "redis-py (client: commands, encoding, parsing)"),
    ("/aiohttp/", "aiohttp (Graph client)"),
    ("/yarl/", "aiohttp (Graph client)"),
    ("/multidict/", "aiohttp (Graph client)"),
    ("/httpx/", "httpx + httpcore (Graph client)"),
    ("/httpcore/", "httpx + httpcore (Graph client)"),
    ("/pywa", "pywa (handlers, types)"),
    ("/uvicorn/", "uvicorn + h11 (HTTP server)"),
    ("/h11/", "uvicorn + h11 (HTTP server)"),
    ("/starlette/", "starlette (routing, request, response)"),
    ("/anyio/", "starlette (routing, request, response)"),
    ("/jinja2/", "engine: turn (runtime, flow, templates)"),
    ("/markupsafe/", "engine: turn (runtime, flow, templates)"),
    ("/babel/", "engine: turn (runtime, flow, templates)"),
    ("/transitions/", "engine: turn (runtime, flow, templates)"),
    ("engine/runtime/redis_store", "engine: session store + user lock"),
    ("engine/runtime/", "engine: turn (runtime, flow, templates)"),
    ("engine/flow/", "engine: turn (runtime, flow, templates)"),
    ("engine/i18n/", "engine: turn (runtime, flow, templates)"),
    ("engine/messages", "engine: messages (JSON in/out)"),
    ("engine/channels/", "engine: WhatsApp channel (webhook parse, signature, send body)"),
    ("engine/web/", "engine: web handlers"),
    ("engine/delivery/", "engine: delivery (queue, turn worker, sender, records)"),
    ("engine/logmask", "logging"),
    ("/logging/", "logging"),
]
ENTRY_POINTS = [  # (label, function, file); note that redis-py runs each command's send in a task of
    # its own (asyncio.wait_for, for its socket timeout), so Redis time is mostly not under these
    ("uvicorn HTTP protocol (h11)", "H11Protocol.data_received", "uvicorn/protocols/http/h11_impl.py"),
    ("webhook handler (engine.web.webhooks.whatsapp)", "whatsapp", "engine/web/webhooks.py"),
    ("  enqueue (RedisQueue.enqueue)", "RedisQueue.enqueue", "engine/delivery/queue.py"),
    ("turn worker (TurnWorker.drain)", "TurnWorker.drain", "engine/delivery/turns.py"),
    ("  user lock acquire (_Lock.__aenter__)", "_Lock.__aenter__", "engine/runtime/redis_store.py"),
    ("  user lock release (_Lock.__aexit__)", "_Lock.__aexit__", "engine/runtime/redis_store.py"),
    ("  turn computation (TurnWorker._compute)", "TurnWorker._compute", "engine/delivery/turns.py"),
    ("  commit (RedisQueue.commit_turn)", "RedisQueue.commit_turn", "engine/delivery/queue.py"),
    ("sender (Sender.drain)", "Sender.drain", "engine/delivery/sender.py"),
    ("  Graph POST (WhatsAppAdapter.send)", "WhatsAppAdapter.send", "engine/channels/whatsapp/adapter.py"),
    ("  rate limiter (Throughput.acquire)", "Throughput.acquire", "engine/delivery/ratelimit.py"),
    ("  delivery record (RedisDeliveryRecords.sent)", "RedisDeliveryRecords.sent", "engine/delivery/records.py"),
    ("stream reads (consume loop)", "consume", "engine/delivery/_consumer.py"),
    ("timer scheduler (schedule_timers)", "schedule_timers", "engine/serve.py"),
    ("asyncio.wait_for (a task per redis-py send)", "wait_for", "asyncio/tasks.py"),
    ("asyncio.timeout (redis-py reads)", "timeout", "asyncio/timeouts.py"),
]


def component(stack: list[str]) -> str:
    for frame in reversed(stack):
        m = FRAME.match(frame)
        path = m.group("file") if m else frame
        for needle, name in COMPONENTS:
            if needle in path:
                return name
        if "site-packages" in path:
            return "other libraries"
    leaf = FRAME.match(stack[-1]) if stack else None
    if leaf and ("json" in leaf.group("file")):
        return "json (stdlib)"
    return "asyncio event loop, sockets (stdlib only)"


def summarize(path: Path, top: int = 20) -> str:
    samples: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.isdigit():
            continue
        samples.append((stack_text.split(";"), int(count)))
    total = sum(c for _, c in samples)
    if not total:
        return "  (no samples)"
    comps: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    entry: collections.Counter[str] = collections.Counter()
    for stack, count in samples:
        stack = [f for f in stack if not f.startswith("process ") and not f.startswith("thread ")]
        comps[component(stack)] += count
        if stack:
            m = FRAME.match(stack[-1])
            own[f"{m.group('func')} ({_short(m.group('file'))}:{m.group('line')})" if m else stack[-1]] += count
        for label, func, file in ENTRY_POINTS:
            if any(f.startswith(func + " (") and file in f for f in stack):
                entry[label] += count
    out = [f"  {total} samples (on-CPU only)", "  by component:"]
    out += [f"    {100 * c / total:5.1f}%  {name}" for name, c in comps.most_common()]
    out.append("  inclusive, by entry point:")
    out += [f"    {100 * entry[label] / total:5.1f}%  {label}" for label, _, _ in ENTRY_POINTS if entry[label]]
    out.append(f"  top {top} functions by own samples:")
    out += [f"    {100 * c / total:5.1f}%  {name}" for name, c in own.most_common(top)]
    return "\n".join(out)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(arg)
        print(summarize(Path(arg)))
