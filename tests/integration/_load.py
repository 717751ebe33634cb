"""Load and fault helpers for tests/integration/test_faults.py: real `flowbot serve` / `flowbot
worker` processes, a private Redis that can be stopped and started again, a Graph fake that
remembers when it accepted each message, a load generator that posts signed webhooks the way
Meta does (per user in order, re-posted until answered 200), and the check that reads each
user's replies back.

The script every user plays is deterministic on the demo bot (flows/demo):

    "hi"            -> main.welcome (text), main.menu (3 buttons)
    tap "track"     -> track.ask_ref
    "HB-Z<c><nnn>"  -> track.not_found, which quotes the code: unique per user and round

so the expected replies of every user are known in advance, and the quoted code tells rounds
apart (a reply of round 1 arriving after round 2 is an order error, not a coincidence).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import _servers
import aiohttp
import redis
import redis.asyncio as aioredis
import yaml
from aiohttp import web
from fakes.graph import GraphFake

from engine.channels.whatsapp import signature_header

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-app-secret"
NUMBER = "1122334455667"
BOT = "demo"

_EN = yaml.safe_load((ROOT / "locales" / "demo" / "en.yaml").read_text(encoding="utf-8"))
WELCOME = _EN["main"]["welcome"]
MENU = "[buttons] " + _EN["main"]["menu"]
ASK_REF = _EN["track"]["ask_ref"]


def not_found(code: str) -> str:
    return _EN["track"]["not_found"].replace("{{ result.code }}", code)


# ─── the Graph fake, with the time each accepted message took ──────────────────────────────


@dataclass(frozen=True)
class Accepted:
    """A message Graph accepted: to whom, what (summary), its wamid, and how long the request
    took on the fake's side (a request slower than the client's timeout was given up by the
    sender, though Graph did accept it)."""

    to: str
    summary: str
    wamid: str
    took: float
    at: float  # time.monotonic() when accepted


_T0 = web.RequestKey("fb_t0", float)  # when the fake got the request


def summary(body: dict[str, Any]) -> str:
    kind = body.get("type")
    if kind == "text":
        return str(body["text"]["body"])
    if kind == "interactive":
        return f"[{body['interactive']['type'].replace('button', 'buttons')}] " + str(body["interactive"]["body"]["text"])
    return f"[{kind}]"


class LoadFake(GraphFake):
    """GraphFake plus `accepted` (every accepted send, in the order it was accepted, with how
    long its request took to be answered), `answers` (a Counter of the HTTP statuses it
    answered), `dropped` (requests whose client left before the fake read them) and one more
    failure control, `stall`.

    What GraphFake.delay does to a send the client gave up on: the fake sleeps *before* reading
    the request, so by then the client has closed the connection, reading the body fails, and
    the message is not recorded (counted in `dropped`). Real Graph may well have accepted such
    a message; `stall` is that case: the message is accepted and recorded at once, and only the
    answer comes late."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[Accepted] = []
        self.answers: Counter[int] = Counter()
        self.dropped = 0
        self._stall = 0.0

    def stall(self, seconds: float) -> None:
        """Accept every send at once but answer it `seconds` late (0 to stop)."""
        self._stall = seconds

    @web.middleware
    async def _faults(self, request: web.Request, handler: Any) -> web.StreamResponse:
        request[_T0] = time.monotonic()
        try:
            response = await GraphFake._faults(self, request, handler)
        except ConnectionResetError:  # the client gave up (timed out) before the request was read
            self.dropped += 1
            return web.Response(status=499)
        self.answers[response.status] += 1
        return response

    async def _send(self, request: web.Request) -> web.Response:
        response = await super()._send(request)
        if response.status != 200:
            return response
        body = json.loads(await request.read())
        if body.get("status") == "read":
            return response
        wamid = json.loads(response.body)["messages"][0]["id"]  # type: ignore[arg-type]
        now = time.monotonic()
        self.accepted.append(Accepted(body["to"], summary(body), wamid, now - request[_T0], now))
        if self._stall:
            n = len(self.accepted) - 1
            await asyncio.sleep(self._stall)
            self.accepted[n] = replace(self.accepted[n], took=time.monotonic() - request[_T0])
        return response

    def for_user(self, user: str) -> list[Accepted]:
        return [a for a in self.accepted if a.to == user]


# ─── users, their webhooks and what the bot must answer ────────────────────────────────────


def webhook(user: str, mid: str, text: str | None = None, button: str | None = None) -> bytes:
    message: dict[str, object] = {"from": user, "id": mid, "timestamp": str(int(time.time()))}
    if button is not None:
        message.update(type="interactive", interactive={"type": "button_reply", "button_reply": {"id": button, "title": button}})
    else:
        message.update(type="text", text={"body": text})
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": "Amina"}, "wa_id": user}], "messages": [message]}}]}]}
    return json.dumps(body).encode()


@dataclass
class User:
    wa_id: str
    posts: list[bytes]  # signed webhook bodies, in the order the user sends them
    replies: list[list[str]]  # what the bot must answer to each post
    acked: int = 0  # how many posts were answered 200 (they are posted in order)

    def expected(self) -> list[str]:
        return [r for replies in self.replies[: self.acked] for r in replies]


def make_users(count: int, rounds: int, tag: str) -> list[User]:
    """`count` users (wa_ids unique to this run), each playing the script `rounds` times."""
    users = []
    base = 254_700_000_000 + (int(tag, 16) % 1_000_000) * 1000
    for k in range(count):
        wa_id = str(base + k)
        posts: list[bytes] = []
        replies: list[list[str]] = []
        for r in range(rounds):
            code = f"HB-Z{r % 10}{k:03d}"
            mid = f"wamid.{tag}.{k}.{r}"
            posts += [webhook(wa_id, mid + ".a", text="hi"), webhook(wa_id, mid + ".b", button="track"),
                      webhook(wa_id, mid + ".c", text=code)]
            replies += [[WELCOME, MENU], [ASK_REF], [not_found(code)]]
        users.append(User(wa_id, posts, replies))
    return users


@dataclass
class Load:
    """Posts every user's webhooks in order, users concurrently; a post that is not answered 200
    (an error status, a refused or dropped connection, a timeout) is posted again, like Meta."""

    base: str
    users: list[User]
    statuses: Counter[str] = field(default_factory=Counter)  # "200", "503", "ClientConnectorError", ...
    gap: float = 0.0  # a user's pause between two messages (each user starts at a random point of it)
    retry_every: float = 0.1
    timeout: float = 15.0

    @property
    def acked(self) -> int:
        return sum(u.acked for u in self.users)

    @property
    def total(self) -> int:
        return sum(len(u.posts) for u in self.users)

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout)) as http:
            await asyncio.gather(*(self._user(http, u) for u in self.users))

    async def _user(self, http: aiohttp.ClientSession, user: User) -> None:
        await asyncio.sleep(random.uniform(0, self.gap))
        for n, body in enumerate(user.posts):
            if n:
                await asyncio.sleep(self.gap)
            headers = {"content-type": "application/json", "x-hub-signature-256": signature_header(SECRET, body)}
            while True:
                try:
                    async with http.post(f"{self.base}/webhooks/whatsapp", data=body, headers=headers) as r:
                        await r.read()
                        self.statuses[str(r.status)] += 1
                        if r.status == 200:
                            break
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.statuses[type(exc).__name__] += 1
                await asyncio.sleep(self.retry_every)
            user.acked += 1


# ─── the check ─────────────────────────────────────────────────────────────────────────────


@dataclass
class Verdict:
    problems: list[str]
    extra: list[Accepted]  # excused second copies (sent twice: see docs/operations.md)

    def __bool__(self) -> bool:
        return not self.problems


def check_user(got: list[Accepted], expected: list[str], excused: Callable[[Accepted], str]) -> tuple[str | None, list[Accepted]]:
    """None when `expected` reads off `got` in order, skipping only excused copies, or what is
    wrong; and the copies skipped (as few as can be).

    `excused(a)` says why a copy may be one too many: "" (not excused: every such copy must be
    one of the expected replies, in its place), "resent" (a copy the sender never learned Graph
    had accepted: its resend follows right after, so it equals the next expected reply) or
    "late" (Graph accepted it after the sender had given up waiting: it may land after later
    replies, so it equals the next expected reply or one already delivered)."""
    # reach: for each count of expected replies matched so far, the fewest copies skipped to get there
    reach: dict[int, tuple[int, ...]] = {0: ()}
    for n, a in enumerate(got):
        why = excused(a)
        after: dict[int, tuple[int, ...]] = {}
        for i, skipped in reach.items():
            options = []
            if i < len(expected) and a.summary == expected[i]:
                options.append((i + 1, skipped))
            if (why == "resent" and i < len(expected) and a.summary == expected[i]) or (
                    why == "late" and a.summary in expected[: i + 1]):
                options.append((i, (*skipped, n)))
            for j, path in options:
                if j not in after or len(path) < len(after[j]):
                    after[j] = path
        if not after:
            done = max(reach)
            return (f"reply #{n} {a.summary!r} (took {a.took:.2f}s, {why or 'recorded'}) does not fit: after {done} "
                    f"of the expected replies the next is {expected[done] if done < len(expected) else 'none'!r}"), []
        reach = after
    if len(expected) not in reach:
        return f"only {max(reach)} of {len(expected)} expected replies arrived; missing from {expected[max(reach)]!r}", []
    return None, [got[n] for n in reach[len(expected)]]


async def records_of(client: aioredis.Redis, prefix: str, accepted: Iterable[Accepted]) -> dict[str, dict[str, str]]:
    """The delivery record of each accepted wamid (absent: the sender never recorded it)."""
    accepted = list(accepted)
    async with client.pipeline(transaction=False) as pipe:
        for a in accepted:
            pipe.hgetall(f"{prefix}:dr:{a.wamid}")
        found = await pipe.execute()
    return {a.wamid: {k.decode(): v.decode() for k, v in raw.items()} for a, raw in zip(accepted, found) if raw}


async def verify(fake: LoadFake, users: list[User], client: aioredis.Redis, prefix: str,
                 excuses: frozenset[str] = frozenset(), late_after: float = float("inf")) -> Verdict:
    """Every user's replies against their script: exactly once and in order, except for copies
    the `excuses` allow ("resent": no delivery record; "late": accepted after `late_after` s)."""
    records = await records_of(client, prefix, fake.accepted)
    problems: list[str] = []
    extra: list[Accepted] = []
    dead = await client.hlen(f"{prefix}:dlq")
    if dead:
        problems.append(f"{dead} message(s) dead-lettered: {list((await client.hgetall(f'{prefix}:dlq')).values())[:3]}")

    def excused(a: Accepted) -> str:
        if a.wamid in records:
            return ""  # the sender knew this copy was sent: it must be one of the expected replies
        if "late" in excuses and a.took >= late_after:
            return "late"
        return "resent" if "resent" in excuses else ""

    for user in users:
        got = fake.for_user(user.wa_id)
        items = Counter(records[a.wamid].get("item") for a in got if a.wamid in records)
        twice = [item for item, n in items.items() if n > 1]
        if twice:
            problems.append(f"{user.wa_id}: outbox item(s) {twice} recorded as sent more than once")
        problem, skipped = check_user(got, user.expected(), excused)
        if problem is not None:
            problems.append(f"{user.wa_id}: {problem}; got {[a.summary[:40] for a in got]}")
        extra += skipped
    return Verdict(problems, extra)


# ─── waiting until the deployment is quiet ─────────────────────────────────────────────────


async def backlog(client: aioredis.Redis, prefix: str, users: list[User]) -> int:
    """Work still queued or in flight: inbox and outbox entries, pending wake-ups, due retries."""
    async with client.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.llen(f"{prefix}:{{{BOT}:{user.wa_id}}}:in")
            pipe.llen(f"{prefix}:{{{BOT}:{user.wa_id}}}:out")
        pipe.zcard(f"{prefix}:retry")
        lengths = await pipe.execute()
    pending = 0
    for stream, group in ((f"{prefix}:turns", "workers"), (f"{prefix}:sends", "senders")):
        try:
            pending += int((await client.xpending(stream, group))["pending"])
        except redis.ResponseError:  # no such stream yet
            pass
    return sum(lengths) + pending


async def settle(fake: LoadFake, users: list[User], client: aioredis.Redis, prefix: str, timeout: float,
                 quiet: float = 1.5) -> float:
    """Wait until every user has at least their expected replies, nothing is queued or in
    flight, and Graph has accepted nothing new for `quiet` seconds (late duplicates would show
    up in that time); return the seconds waited. Raises AssertionError at `timeout`."""
    start = time.monotonic()
    deadline = start + timeout
    seen, since = -1, time.monotonic()
    idle_since: float | None = None
    while time.monotonic() < deadline:
        if len(fake.accepted) != seen:
            seen, since = len(fake.accepted), time.monotonic()
        try:
            idle = await backlog(client, prefix, users) == 0
        except redis.ConnectionError:
            idle = False
        idle_since = (idle_since or time.monotonic()) if idle else None
        done = all(len(fake.for_user(u.wa_id)) >= len(u.expected()) for u in users)
        if idle and done and time.monotonic() - since >= quiet:
            return time.monotonic() - start
        if idle_since is not None and time.monotonic() - idle_since > 5:
            break  # nothing left to do, and replies are missing: they will not come
        await asyncio.sleep(0.1)
    missing = {u.wa_id: (len(fake.for_user(u.wa_id)), len(u.expected())) for u in users
               if len(fake.for_user(u.wa_id)) < len(u.expected())}
    verdict = await verify(fake, [u for u in users if u.wa_id in missing][:5], client, prefix)
    raise AssertionError(f"not quiet after {time.monotonic() - start:.0f}s: backlog {await backlog(client, prefix, users)}, "
                         f"users short of replies (got, expected): {dict(list(missing.items())[:10])}\n"
                         + "\n".join(verdict.problems))


# ─── processes ─────────────────────────────────────────────────────────────────────────────


def free_port() -> int:
    return _servers.free_port()


@dataclass
class Stack:
    """`flowbot serve --no-worker` plus `flowbot worker` processes of one deployment, against a
    Graph fake; `close()` ends every process it started and removes its folder."""

    redis_url: str
    prefix: str
    fake_url: str
    env_extra: dict[str, str] = field(default_factory=dict)
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fbtest-faults-")))
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    base: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "REDIS_URL": self.redis_url, "WHATSAPP_APP_SECRET": SECRET,
                "WHATSAPP_VERIFY_TOKEN": "verify-me", "WHATSAPP_API_BASE_URL": self.fake_url,
                "WHATSAPP_TOKEN": "token-1", "WHATSAPP_PHONE_NUMBER_ID": NUMBER, "FLOWBOT_LOG_LEVEL": "info",
                "PYTHONUNBUFFERED": "1", **self.env_extra}

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.folder / f"{name}.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *args, "--prefix", self.prefix], cwd=ROOT,
                                    env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs[name] = proc
        return proc

    async def serve(self) -> str:
        port = free_port()
        proc = self._spawn("serve", "serve", "flows/demo", "--port", str(port), "--no-worker")
        self.base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if proc.poll() is not None:
                    break
                try:
                    async with http.get(f"{self.base}/healthz") as r:
                        if r.status == 200:
                            return self.base
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("flowbot serve did not start:\n" + self.logs("serve"))

    async def worker(self, name: str, timeout: float = 30.0) -> subprocess.Popen[bytes]:
        """Start a worker and wait until it runs its loops (its log says so)."""
        proc = self._spawn(name, "worker", "flows/demo")
        log = self.folder / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if b"worker running" in log.read_bytes():
                return proc
            await asyncio.sleep(0.05)
        raise AssertionError(f"flowbot worker {name} did not start:\n" + self.logs(name))

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def logs(self, *names: str, tail: int = 20_000) -> str:  # shown only when a check fails: enough to follow a user
        out = []
        for name in names or tuple(self.procs):
            path = self.folder / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            out.append(f"--- {name} (exit {self.procs[name].poll() if name in self.procs else '?'}) ---\n{text[-tail:]}")
        return "\n".join(out)

    def close(self) -> None:
        try:
            for proc in self.procs.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in self.procs.values():
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


async def consumers(client: aioredis.Redis, prefix: str) -> set[str]:
    names: set[str] = set()
    for stream, group in ((f"{prefix}:turns", "workers"), (f"{prefix}:sends", "senders")):
        try:
            names |= {c["name"].decode() if isinstance(c["name"], bytes) else c["name"]
                      for c in await client.xinfo_consumers(stream, group)}
        except redis.ResponseError:
            pass
    return names


async def pending_of(client: aioredis.Redis, prefix: str, names: set[str]) -> int:
    """Wake-ups the consumers `names` have taken and not yet acknowledged."""
    total = 0
    for stream, group in ((f"{prefix}:turns", "workers"), (f"{prefix}:sends", "senders")):
        for c in await client.xinfo_consumers(stream, group):
            name = c["name"].decode() if isinstance(c["name"], bytes) else c["name"]
            if name in names:
                total += int(c["pending"])
    return total


@dataclass
class OwnRedis:
    """A private redis-server configured as docs/operations.md tells operators (append-only
    file, `appendfsync` as given, no eviction), that can be stopped and started again on the
    same port and folder."""

    fsync: str = "everysec"
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fbtest-redis-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        binary = _servers.find_redis_server()
        if binary is None:
            import pytest

            pytest.skip(_servers.REDIS_HOWTO)
        self.starts += 1
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                 "--appendonly", "yes", "--appendfsync", self.fsync, "--save", "",
                 "--maxmemory-policy", "noeviction"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if _servers.redis_answers(self.url, timeout=0.2):
                return
            time.sleep(0.05)
        raise AssertionError(f"redis-server did not start (start #{self.starts}):\n"
                             + (self.folder / "redis.log").read_text(errors="replace")[-2000:])

    def shutdown(self) -> None:
        """SIGTERM: Redis's own SHUTDOWN (the append-only file is flushed and fsynced first)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)

    def kill(self) -> None:
        """SIGKILL: a crash; what was not yet fsynced to the append-only file is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(15)

    def close(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
