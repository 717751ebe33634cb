"""End to end under load: signed Cloud API webhooks in, replies out to a Graph fake, for flowbot
next to a bare Starlette app and a pywa bot, measured in the same run.

Every simulated user plays the shop conversation (bench/bots/shop: "hi" -> a menu with buttons,
the "Order status" button -> "What is your order number?", "A1234" -> the answer), sending its
next message only once the bot's reply to the previous one reached the Graph fake. This process
is both the load generator and the Graph fake (one event loop, raw asyncio protocols: the fake
answers Graph's real success body, and both sides cost a few tens of µs a message so that they
do not become what is measured). The systems under test run as subprocesses pinned with
taskset to another core, with their Redis, and are alternated round after round because single
runs on a shared machine vary a lot.

    python bench/e2e_load.py                                  # throughput: bare, pywa, flowbot
    python bench/e2e_load.py --rate 200 --systems bare,pywa,flowbot   # fixed rate: the p99 targets
    python bench/e2e_load.py --systems flowbot,flowbot-aof,flowbot-fsync,flowbot-80 --rounds 2
    python bench/e2e_load.py --systems flowbot --rounds 1 --profile   # py-spy: where the time goes
    python bench/e2e_load.py --systems flowbot-base,flowbot --base /tmp/old  # A/B two engines

Systems: bare (bench/bare_app.py), pywa (bench/pywa_bot.py), flowbot (`flowbot serve
bench/bots/shop --with-worker`, Redis without persistence), flowbot-aof (the same, Redis with
appendonly everysec), flowbot-fsync (appendfsync always), flowbot-split (`flowbot serve
--no-worker` + `flowbot worker`, on the system's core or --worker-cpu), flowbot-log and
flowbot-log-split (the same two with the messaging log in PostgreSQL), flowbot-80 (the real
80 messages/s send limit; the others raise FLOWBOT_SEND_RATE out of the way), flowbot-base (the
engine copied to --base: cp -r engine actions schemas locales templates DIR), flowbot-nost (an
experiment: redis-py without its socket timeout, via bench/_patches/sitecustomize.py).

Columns: msgs/s = user messages answered per second (each gets exactly one reply); webhook
p50/p99 = from writing the webhook to reading its HTTP answer; reply p50/p99 = from writing the
webhook to the Graph fake reading the reply; cpu = the system's CPU (its processes, and Redis)
in ms per message, and the share of its core it used.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import hmac
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-app-secret"
VERIFY = "bench-verify"
TOKEN = "bench-token"
NUMBER = "1122334455667"
PY = sys.executable
CLK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ───────────────────────────── the Graph fake ─────────────────────────────────────────────────
class Graph:
    """Routes each reply to the user waiting for it; counts what it saw."""

    def __init__(self) -> None:
        self.waiting: dict[str, collections.deque[asyncio.Future[tuple[float, str]]]] = {}
        self.received = 0
        self.unexpected = 0
        self.bad = 0
        self.reads = 0
        self.n = 0

    def reply(self, to: str, kind: str) -> None:
        self.received += 1
        line = self.waiting.get(to)
        while line:
            fut = line.popleft()
            if not fut.done():
                fut.set_result((time.perf_counter(), kind))
                return
        self.unexpected += 1  # a reply nobody waits for (late, or one too many)


class GraphProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive server for POST /{version}/{phone}/messages, Content-Length bodies."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].lower()
            i = head.find(b"\r\ncontent-length:")
            length = 0
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                length = int(head[i + 17: j if j >= 0 else len(head)])
            if len(buf) < end + 4 + length:
                break
            body = buf[end + 4: end + 4 + length]
            buf = buf[end + 4 + length:]
            self.handle(head, body)
        self.buf = buf

    def handle(self, head: bytes, body: bytes) -> None:
        graph = self.graph
        if b"authorization: bearer " not in head or not head.startswith(b"post "):
            graph.bad += 1
            self.answer(b'{"error":{"message":"An access token is required to request this resource","type":"OAuthException","code":104}}', 401)
            return
        try:
            data = json.loads(body)
            to = data["to"] if "status" not in data else None
        except (ValueError, KeyError, TypeError):
            graph.bad += 1
            self.answer(b'{"error":{"message":"Invalid JSON in request body","type":"OAuthException","code":100}}', 400)
            return
        if to is None:
            graph.reads += 1
            self.answer(b'{"success":true}')
            return
        graph.n += 1
        self.answer(b'{"messaging_product":"whatsapp","contacts":[{"input":"%s","wa_id":"%s"}],"messages":[{"id":"wamid.HBgMbench%012d"}]}'
                    % (to.encode(), to.encode(), graph.n))
        graph.reply(to, data.get("type", ""))

    def answer(self, body: bytes, status: int = 200) -> None:
        reason = b"OK" if status == 200 else b"Bad Request"
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s"
                             % (status, reason, len(body), body))


# ───────────────────────────── the webhook client ─────────────────────────────────────────────
class Conn(asyncio.Protocol):
    """One keep-alive connection to the system under test; one request at a time."""

    def __init__(self) -> None:
        self.buf = b""
        self.fut: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(ConnectionError("closed by the server"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].lower()
        i = head.find(b"\r\ncontent-length:")
        length = 0
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17: j if j >= 0 else len(head)])
        if len(self.buf) < end + 4 + length:
            return
        status = int(head[9:12])
        self.buf = self.buf[end + 4 + length:]
        if self.fut is not None and not self.fut.done():
            self.fut.set_result(status)

    async def request(self, raw: bytes) -> int:
        assert self.transport is not None
        self.fut = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.fut


class Pool:
    def __init__(self, port: int, size: int) -> None:
        self.port, self.size = port, size
        self.idle: asyncio.Queue[Conn] = asyncio.Queue()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self.size):
            _, conn = await loop.create_connection(Conn, "127.0.0.1", self.port)
            self.idle.put_nowait(conn)

    async def post(self, raw: bytes) -> tuple[int, float]:
        """(status, when the request was written)"""
        conn = await self.idle.get()
        if conn.closed:
            _, conn = await asyncio.get_running_loop().create_connection(Conn, "127.0.0.1", self.port)
        t0 = time.perf_counter()
        try:
            status = await conn.request(raw)
        finally:
            self.idle.put_nowait(conn)
        return status, t0

    def close(self) -> None:
        while not self.idle.empty():
            conn = self.idle.get_nowait()
            if conn.transport is not None:
                conn.transport.close()


def webhook_body(user: str, mid: str, step: int, order: str) -> bytes:
    bsuid = "KE.1" + user[-8:] + "0517263544"  # Graph v25 payloads carry business-scoped user ids too
    message: dict[str, Any] = {"from": user, "from_user_id": bsuid, "id": mid, "timestamp": str(int(time.time()))}
    if step == 1:
        message.update(context={"from": "15550001234", "id": "wamid.HBgMbenchmenu"}, type="interactive",
                       interactive={"type": "button_reply", "button_reply": {"id": "status", "title": "Order status"}})
    else:
        message.update(type="text", text={"body": "hi" if step == 0 else order})
    body = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001234", "phone_number_id": NUMBER},
        "contacts": [{"profile": {"name": "Amina"}, "wa_id": user, "user_id": bsuid}], "messages": [message]}, "field": "messages"}]}]}
    return json.dumps(body).encode()  # ASCII-escaped, as Meta sends it


def request_bytes(port: int, body: bytes) -> bytes:
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return (b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: facebookexternalua\r\n"
            b"Accept: */*\r\nContent-Type: application/json\r\nX-Hub-Signature-256: sha256=%s\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (port, sig.encode(), len(body), body))


# ───────────────────────────── the load ───────────────────────────────────────────────────────
EXPECT = ("interactive", "text", "text")  # the shop's replies to hi / the button / the order number


@dataclass
class Stats:
    start: float = 0.0
    end: float = 0.0
    webhook: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    answered: int = 0          # replies received within [start, end)
    sent: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    wrong_kind: int = 0
    missed_slots: int = 0      # fixed rate: no idle user when a message was due


class Load:
    def __init__(self, graph: Graph, pool: Pool, port: int, expect_kinds: bool, reply_timeout: float = 10.0) -> None:
        self.graph, self.pool, self.port = graph, pool, port
        self.expect_kinds = expect_kinds
        self.reply_timeout = reply_timeout
        self.stats = Stats()
        self.n = 0

    async def one(self, user: str, step: int) -> bool:
        """Send the user's message for `step` and wait for its answer and its reply."""
        self.n += 1
        raw = request_bytes(self.port, webhook_body(user, f"wamid.bench{self.n:010d}", step, f"A{1000 + self.n % 9000}"))
        fut: asyncio.Future[tuple[float, str]] = asyncio.get_running_loop().create_future()
        self.graph.waiting.setdefault(user, collections.deque()).append(fut)
        st = self.stats
        try:
            status, t0 = await self.pool.post(raw)
        except ConnectionError:
            st.errors["connection"] += 1
            fut.cancel()
            return False
        t1 = time.perf_counter()
        measured = st.start <= t0 < st.end
        if measured:
            st.sent += 1
            st.webhook.append(t1 - t0)
        if status != 200:
            st.errors[f"http {status}"] += 1
            fut.cancel()
            return False
        try:
            t2, kind = await asyncio.wait_for(fut, self.reply_timeout)
        except TimeoutError:
            st.errors["no reply"] += 1
            return False
        if st.start <= t2 < st.end:
            st.answered += 1
        if measured:
            st.reply.append(t2 - t0)
        if self.expect_kinds and kind != EXPECT[step]:
            st.wrong_kind += 1
        return True

    async def closed_user(self, user: str, until: float) -> None:
        step = 0
        while time.perf_counter() < until:
            if await self.one(user, step):
                step = (step + 1) % 3
            else:
                step = 0
                await asyncio.sleep(0.05)

    async def run_closed(self, users: int, warmup: float, duration: float) -> Stats:
        now = time.perf_counter()
        self.stats.start, self.stats.end = now + warmup, now + warmup + duration
        until = self.stats.end
        await asyncio.gather(*(self.closed_user(f"2547{u:08d}", until) for u in range(users)))
        return self.stats

    async def run_rate(self, rate: float, users: int, warmup: float, duration: float, seed: int = 7) -> Stats:
        """Poisson arrivals at `rate`; each message from an idle user (users wait for replies)."""
        rng = random.Random(seed)
        idle = collections.deque((f"2547{u:08d}", 0) for u in range(users))
        rng.shuffle(idle)
        tasks: set[asyncio.Task[None]] = set()

        async def send(user: str, step: int) -> None:
            ok = await self.one(user, step)
            idle.append((user, (step + 1) % 3 if ok else 0))

        now = time.perf_counter()
        self.stats.start, self.stats.end = now + warmup, now + warmup + duration
        due = now
        while due < self.stats.end:
            due += rng.expovariate(rate)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if not idle:
                self.stats.missed_slots += 1
                continue
            user, step = idle.popleft()
            task = asyncio.create_task(send(user, step))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=self.reply_timeout + 1)
        return self.stats


# ───────────────────────────── the systems under test ─────────────────────────────────────────
@dataclass
class System:
    name: str
    redis: str | None  # None, "memory", "aof" (appendfsync everysec) or "fsync" (appendfsync always)
    commands: list[list[str]]
    env: dict[str, str]
    kinds: bool  # replies follow the shop (False: the bare echo answers text to everything)
    root: Path = ROOT  # where the system's code is imported from (flowbot-base: a copy of the engine)


def systems(args: argparse.Namespace, port: int, graph_url: str, redis_url: str) -> dict[str, System]:
    base = {"APP_SECRET": SECRET, "VERIFY_TOKEN": VERIFY, "GRAPH_URL": graph_url, "PHONE_NUMBER_ID": NUMBER,
            "TOKEN": TOKEN, "PYWA_LOG_LEVEL": "warning"}
    fb = {"REDIS_URL": redis_url, "WHATSAPP_APP_SECRET": SECRET, "WHATSAPP_VERIFY_TOKEN": VERIFY,
          "WHATSAPP_API_BASE_URL": graph_url, "WHATSAPP_TOKEN": TOKEN, "WHATSAPP_PHONE_NUMBER_ID": NUMBER,
          "FLOWBOT_LOG_LEVEL": args.log_level, "FLOWBOT_SEND_RATE": str(args.send_rate),
          "FLOWBOT_TURN_CONCURRENCY": str(args.turn_concurrency), "FLOWBOT_SEND_CONCURRENCY": str(args.send_concurrency)}
    bot = str(ROOT / "bench" / "bots" / "shop")
    serve = [PY, "-m", "engine.cli", "serve", bot, "--host", "127.0.0.1", "--port", str(port)]
    out = {
        "bare": System("bare", None, [[PY, str(ROOT / "bench" / "bare_app.py"), "--port", str(port)]], base, False),
        "pywa": System("pywa", None, [[PY, str(ROOT / "bench" / "pywa_bot.py"), "--port", str(port)]], base, True),
        "flowbot": System("flowbot", "memory", [serve + ["--with-worker"]], fb, True),
        "flowbot-aof": System("flowbot-aof", "aof", [serve + ["--with-worker"]], fb, True),
        # the messaging log (every message in and out, and statuses) shipped to PostgreSQL off the
        # reply's path: DATABASE_URL is a fresh database on --pg-url, migrated before the run
        "flowbot-log": System("flowbot-log", "memory", [serve + ["--with-worker"]], fb, True),
        "flowbot-fsync": System("flowbot-fsync", "fsync", [serve + ["--with-worker"]], fb, True),
        "flowbot-split": System("flowbot-split", "memory",
                                [serve + ["--no-worker"]] + [[PY, "-m", "engine.cli", "worker", bot]] * args.workers, fb, True),
        # the same, with the log: the shipper, the turns and the sends in the worker, the web
        # process left to answer webhooks (both processes on the system's core)
        "flowbot-log-split": System("flowbot-log-split", "memory",
                                    [serve + ["--no-worker"]] + [[PY, "-m", "engine.cli", "worker", bot]] * args.workers, fb, True),
        "flowbot-80": System("flowbot-80", "memory", [serve + ["--with-worker"]], {**fb, "FLOWBOT_SEND_RATE": "80"}, True),
        # A/B in the same run: the engine as copied to --base (e.g. before a change) against this tree
        "flowbot-base": System("flowbot-base", "memory", [serve + ["--with-worker"]], fb, True,
                               Path(args.base) if args.base else ROOT),
        "flowbot-log-base": System("flowbot-log-base", "memory", [serve + ["--with-worker"]], fb, True,
                                   Path(args.base) if args.base else ROOT),
        # an experiment, not a configuration: redis-py without its default 5 s socket timeout
        "flowbot-nost": System("flowbot-nost", "memory", [serve + ["--with-worker"]],
                               {**fb, "BENCH_REDIS_SOCKET_TIMEOUT": "none"}, True),
    }
    return out


def busy_seconds() -> float:
    """CPU time all cores spent running processes (user, nice, system) or stolen by the
    hypervisor, from /proc/stat; interrupts are left out (loopback networking is mostly softirq
    time charged to no process: ours, not interference)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, steal = fields[0], fields[1], fields[2], fields[7]
    return (user + nice + system + steal) / CLK


def peak_mb(pid: int) -> float:
    """A process's peak resident set (VmHWM) in MB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


class Redis:
    def __init__(self, mode: str, cpu: str, tcp: bool) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.sock = self.dir / "redis.sock"
        self.port = free_port() if tcp else 0
        persist = {"aof": ["--appendonly", "yes", "--appendfsync", "everysec"],
                   "fsync": ["--appendonly", "yes", "--appendfsync", "always"]}.get(mode, ["--appendonly", "no"])
        self.proc = subprocess.Popen(
            ["taskset", "-c", cpu, shutil.which("redis-server") or "redis-server", "--port", str(self.port),
             "--unixsocket", str(self.sock), "--unixsocketperm", "700", "--dir", str(self.dir), "--save", "",
             *persist, "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0" if tcp else f"unix://{self.sock}"
        import redis as sync_redis

        self.client = sync_redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                if self.client.ping():
                    break
            except Exception:  # noqa: BLE001 - starting
                time.sleep(0.02)

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Result:
    system: str
    mode: str
    msgs: float
    webhook: list[float]
    reply: list[float]
    cpu_ms: float
    cpu_share: float
    redis_share: float
    load_share: float
    other_share: float
    errors: dict[str, int]
    wrong: int
    missed: int
    unexpected: int
    redis_calls: dict[str, float] = field(default_factory=dict)
    db_share: float = 0.0  # PostgreSQL's backends serving the system (flowbot-log), in `cpu_share` too
    db_rows: int = 0  # messaging-log rows in PostgreSQL after the run (flowbot-log)
    peak_mb: float = 0.0  # the system's processes' peak resident memory (VmHWM, Redis not included)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_ready(port: int, procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    path = f"/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=42"
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs):
            if proc.poll() is not None:
                raise RuntimeError(f"system exited early:\n{log.read_text()[-3000:]}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = await reader.read()
            writer.close()
            if data.startswith(b"HTTP/1.1 200") and data.endswith(b"42"):
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("system did not answer the verification challenge in time")


async def run_one(args: argparse.Namespace, name: str, graph: Graph, graph_url: str, outdir: Path,
                  tag: str) -> Result:
    port = free_port()
    redis = None
    sys_cpu = args.sut_cpu
    probe = systems(args, port, graph_url, "")[name]
    if probe.redis is not None:
        redis = Redis(probe.redis, args.redis_cpu or sys_cpu, args.redis_tcp)
    url = redis.url if redis else ""
    if redis and args.redis_pool:  # redis-py 8's asyncio pool refuses (MaxConnectionsError) past 100 by default
        url += f"?max_connections={args.redis_pool}"
    system = systems(args, port, graph_url, url)[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWBOT_", "WHATSAPP_", "REDIS_URL"))}
    env.update(system.env)
    env.pop("DATABASE_URL", None)  # no PostgreSQL messaging log: Redis only (sessions, queues, delivery records)
    database = Database(args.pg_url) if name.startswith("flowbot-log") else None
    if database is not None:
        env["DATABASE_URL"] = database.url
        subprocess.run([PY, "-m", "engine.cli", "migrate"], cwd=system.root, env=env, check=True,
                       stdout=subprocess.DEVNULL)
    env["PYTHONPATH"] = str(system.root) + os.pathsep + str(ROOT / "bench" / "_patches")
    if args.stack != "installed":
        env["BENCH_STACK"] = args.stack
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    profilers: list[subprocess.Popen[bytes]] = []
    for i, cmd in enumerate(system.commands):
        log = outdir / f"{tag}-{name}-{i}.log"
        logs.append(log)
        cpu = args.worker_cpu if (i > 0 and args.worker_cpu) else sys_cpu  # flowbot-split's workers
        procs.append(subprocess.Popen(["taskset", "-c", cpu, *cmd], cwd=system.root, env=env,
                                      stdout=log.open("wb"), stderr=subprocess.STDOUT))
        if i == 0 and len(system.commands) > 1:
            await asyncio.sleep(0.3)
    try:
        await wait_ready(port, procs, logs)
        graph.waiting.clear()
        graph.received = graph.unexpected = 0
        pool = Pool(port, args.conns)
        await pool.open()
        load = Load(graph, pool, port, system.kinds)
        users = users_for(args, name)
        # a first conversation end to end before any load: it must work at all
        for step in range(3):
            if not await load.one("254799999999", step):
                raise RuntimeError(f"{name}: the first conversation failed: {dict(load.stats.errors)}; "
                                   f"see {logs[0]}")
        load.stats = Stats()
        # CPU counters and Redis stats sampled over the measured window only
        window_start = asyncio.get_running_loop().time() + args.warmup

        async def sample() -> tuple[list[float], float, float, dict[str, int]]:
            await asyncio.sleep(max(0.0, window_start - asyncio.get_running_loop().time()))
            if redis is not None:
                redis.client.config_resetstat()
            if args.profile:
                for i, proc in enumerate(procs):
                    out = outdir / f"{tag}-{name}-{i}.pyspy.txt"
                    profilers.append(subprocess.Popen(
                        ["taskset", "-c", args.load_cpu, str(Path(PY).parent / "py-spy"), "record", "--pid", str(proc.pid),
                         "--duration", str(int(args.duration)), "--rate", "200", "--full-filenames", "--format", "raw",
                         "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            before = [cpu_seconds(p.pid) for p in procs]
            dbefore = database.cpu() if database else 0.0
            rbefore = cpu_seconds(redis.proc.pid) if redis else 0.0
            lbefore = time.process_time()
            bbefore = busy_seconds()
            await asyncio.sleep(args.duration)
            busy = busy_seconds() - bbefore
            after = [cpu_seconds(p.pid) for p in procs]
            dcpu = (database.cpu() - dbefore) if database else 0.0
            rafter = cpu_seconds(redis.proc.pid) if redis else 0.0
            stats = {}
            if redis is not None:
                for cmd, info in redis.client.info("commandstats").items():
                    stats[cmd.removeprefix("cmdstat_")] = int(info["calls"])
            lcpu = time.process_time() - lbefore
            ours = sum(a - b for a, b in zip(after, before)) + (rafter - rbefore) + lcpu + dcpu
            stats["_other"] = max(0.0, busy - ours)  # type: ignore[assignment]
            stats["_db"] = dcpu  # type: ignore[assignment]
            return [a - b for a, b in zip(after, before)], rafter - rbefore, lcpu, stats

        sampler = asyncio.create_task(sample())
        if args.rate:
            stats = await load.run_rate(args.rate, users, args.warmup, args.duration)
        else:
            stats = await load.run_closed(users, args.warmup, args.duration)
        cpu, rcpu, lcpu, rstats = await sampler
        peak = sum(peak_mb(p.pid) for p in procs)
        other = float(rstats.pop("_other", 0.0))
        dcpu = float(rstats.pop("_db", 0.0))
        db_rows = 0
        if database is not None:
            await asyncio.sleep(1.5)  # the shipper's last batch
            db_rows = database.log_rows()
        pool.close()
        for p in profilers:
            p.wait(60)
        answered = max(stats.answered, 1)
        return Result(
            system=name, mode=f"rate {args.rate:g}/s" if args.rate else f"{users} users",
            msgs=stats.answered / args.duration, webhook=stats.webhook, reply=stats.reply,
            cpu_ms=1000 * (sum(cpu) + rcpu + dcpu) / answered, cpu_share=(sum(cpu) + rcpu + dcpu) / args.duration,
            db_share=dcpu / args.duration, db_rows=db_rows, peak_mb=peak,
            redis_share=rcpu / args.duration, load_share=lcpu / args.duration, other_share=other / args.duration,
            errors=dict(stats.errors), wrong=stats.wrong_kind, missed=stats.missed_slots, unexpected=graph.unexpected,
            redis_calls={k: v / answered for k, v in sorted(rstats.items(), key=lambda kv: -kv[1])})
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if redis is not None:
            redis.stop()
        if database is not None:
            database.drop()


class Database:
    """A fresh PostgreSQL database for one run of flowbot-log, dropped after it. Its backends'
    CPU counts as the system's (the server itself is not pinned: it runs where the OS puts it)."""

    def __init__(self, admin_url: str) -> None:
        import psycopg

        self.admin = admin_url
        self.name = f"bench_{os.getpid()}_{int(time.time() * 1000)}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = psycopg.conninfo.make_conninfo(admin_url, dbname=self.name)

    def pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,)).fetchall()
        return [int(r[0]) for r in rows]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def log_rows(self) -> int:
        import psycopg

        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT count(*) FROM messages").fetchone()
        return int(row[0]) if row else 0

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def users_for(args: argparse.Namespace, name: str) -> int:
    """--users 64, or per system: --users 64,pywa=16 (the plain number is the default)."""
    default, per = 0, {}
    for part in str(args.users).split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            per[key.strip()] = int(value)
        elif part.strip():
            default = int(part)
    if name in per:
        return per[name]
    family = name.split("-")[0]
    return per.get(family, default or (3000 if args.rate else 32))


def fmt_ms(v: float) -> str:
    return "    n/a" if math.isnan(v) else f"{v * 1000:7.1f}"


def table(results: list[Result], title: str) -> str:
    by: dict[str, list[Result]] = collections.defaultdict(list)
    for r in results:
        by[r.system].append(r)
    med = {name: statistics.median(r.msgs for r in rs) for name, rs in by.items()}
    header = (f"{'system':<14} {'runs':>4} {'msgs/s':>8} {'min-max':>13} {'webhook p50':>11} {'p99':>7} {'reply p50':>9} {'p99':>7}"
              f" {'cpu ms/msg':>10} {'core%':>6} {'redis%':>6} {'load%':>6} {'other%':>6} {'vs bare':>7} {'vs pywa':>7}  problems")
    lines = [title, header]
    for name, rs in by.items():
        web = [v for r in rs for v in r.webhook]
        rep = [v for r in rs for v in r.reply]
        m = med[name]
        vs_bare = f"{m / med['bare']:.2f}" if med.get("bare") else "-"
        vs_pywa = f"{m / med['pywa']:.2f}" if med.get("pywa") else "-"
        errors = collections.Counter[str]()
        for r in rs:
            errors.update(r.errors)
        problems = ", ".join(f"{k} {v}" for k, v in errors.items())
        wrong = sum(r.wrong for r in rs)
        if wrong:
            problems += f" wrong-reply {wrong}"
        missed = sum(r.missed for r in rs)
        if missed:
            problems += f" no-idle-user {missed}"
        if any(r.db_rows or r.db_share for r in rs):
            problems += (f" (PostgreSQL {100 * statistics.median(r.db_share for r in rs):.0f}% of a core, in core%;"
                         f" log rows {min(r.db_rows for r in rs)}-{max(r.db_rows for r in rs)})")
        lo, hi = min(r.msgs for r in rs), max(r.msgs for r in rs)
        lines.append(
            f"{name:<14} {len(rs):>4} {m:>8.0f} {f'{lo:.0f}-{hi:.0f}':>13} {fmt_ms(statistics.median(web) if web else float('nan')):>11} {fmt_ms(pct(web, 0.99)):>7}"
            f" {fmt_ms(statistics.median(rep) if rep else float('nan')):>9} {fmt_ms(pct(rep, 0.99)):>7}"
            f" {statistics.median(r.cpu_ms for r in rs):>10.2f} {100 * statistics.median(r.cpu_share for r in rs):>5.0f}%"
            f" {100 * statistics.median(r.redis_share for r in rs):>5.0f}% {100 * statistics.median(r.load_share for r in rs):>5.0f}%"
            f" {100 * statistics.median(r.other_share for r in rs):>5.0f}%"
            f" {vs_bare:>7} {vs_pywa:>7}  {problems or '-'}")
    lines.append("msgs/s: median over runs; latencies in ms over all runs' messages; core% = the system's CPU "
                 "(incl. Redis) as a share of one core; load% = this load generator + Graph fake; other% = CPU used by "
                 "other processes on the machine meanwhile (interference).")
    return "\n".join(lines)


def redis_table(results: list[Result]) -> str:
    lines = ["Redis commands per answered message (median over runs):"]
    by: dict[str, list[Result]] = collections.defaultdict(list)
    for r in results:
        if r.redis_calls:
            by[r.system].append(r)
    for name, rs in by.items():
        cmds = sorted({c for r in rs for c in r.redis_calls}, key=lambda c: -statistics.median(r.redis_calls.get(c, 0) for r in rs))
        total = statistics.median(sum(r.redis_calls.values()) for r in rs)
        parts = [f"{c} {statistics.median(r.redis_calls.get(c, 0) for r in rs):.2f}" for c in cmds]
        lines.append(f"  {name}: {total:.1f} in all: " + ", ".join(p for p in parts if not p.endswith(" 0.00")))
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {int(args.load_cpu)})
    graph = Graph()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: GraphProtocol(graph), "127.0.0.1", 0, backlog=1024)
    graph_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    results: list[Result] = []
    print(f"python {sys.version.split()[0]}; load generator + Graph fake on cpu {args.load_cpu}, systems on cpu {args.sut_cpu}"
          f" (Redis on cpu {args.redis_cpu or args.sut_cpu}); {args.rounds} round(s) x {len(names)} system(s), "
          f"{args.warmup:g}s warm-up + {args.duration:g}s measured each; "
          + (f"fixed rate {args.rate:g} msgs/s, users {args.users or 3000}" if args.rate else f"closed loop, users {args.users or 32}, {args.conns} webhook connections"),
          flush=True)
    for rnd in range(args.rounds):
        order = names[rnd % len(names):] + names[:rnd % len(names)]  # alternate who goes first
        for name in order:
            r = await run_one(args, name, graph, graph_url, outdir, f"r{rnd}")
            for attempt in range(args.retries):  # another process took CPU meanwhile: run again, keep the quietest
                if r.other_share <= args.max_other:
                    break
                print(f"  round {rnd + 1} {name:<14} other processes used {100 * r.other_share:.0f}% of a core: again", flush=True)
                await asyncio.sleep(args.pause * 5)
                again = await run_one(args, name, graph, graph_url, outdir, f"r{rnd}a{attempt}")
                r = again if again.other_share < r.other_share else r
            results.append(r)
            print(f"  round {rnd + 1} {name:<14} {r.msgs:7.0f} msgs/s  webhook p99 {fmt_ms(pct(r.webhook, 0.99))} ms"
                  f"  reply p50 {fmt_ms(pct(r.reply, 0.5))} p99 {fmt_ms(pct(r.reply, 0.99))} ms  cpu {r.cpu_ms:.2f} ms/msg"
                  f" ({100 * r.cpu_share:.0f}% core, load {100 * r.load_share:.0f}%, other {100 * r.other_share:.0f}%)"
                  f"  peak {r.peak_mb:.0f} MB"
                  + (f"  errors {r.errors}" if r.errors else "") + (f"  wrong {r.wrong}" if r.wrong else ""), flush=True)
            await asyncio.sleep(args.pause)
    server.close()
    text = table(results, "\nResults (" + (f"fixed rate {args.rate:g} msgs/s" if args.rate else "throughput, closed loop") + ")")
    rt = redis_table(results)
    print(text)
    print(rt)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "engine"], cwd=ROOT, capture_output=True, text=True,
                           check=False).stdout.strip()
    print(f"engine: commit {head or '?'}{' with uncommitted changes in engine/' if dirty else ''}")
    (outdir / f"results-{stamp}.json").write_text(json.dumps(
        {"args": vars(args), "engine": {"commit": head, "dirty": bool(dirty)}, "results": [{**r.__dict__, "webhook": None, "reply": None,
                                          "webhook_p50": pct(r.webhook, 0.5), "webhook_p99": pct(r.webhook, 0.99),
                                          "reply_p50": pct(r.reply, 0.5), "reply_p99": pct(r.reply, 0.99)} for r in results]},
        indent=1))
    if args.profile:
        from profile_summary import summarize  # bench/profile_summary.py

        for path in sorted(outdir.glob("*.pyspy.txt")):
            print(f"\n{path.name}")
            print(summarize(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--systems", default="bare,pywa,flowbot")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a PostgreSQL server for flowbot-log (a database is created and dropped per run)")
    parser.add_argument("--stack", choices=["installed", "std", "fast"], default="installed",
                        help="std: every system on asyncio's loop and h11 (uvloop and httptools hidden); fast/installed: "
                             "uvloop and httptools where installed")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    parser.add_argument("--users", default="", help="simulated users: N, or N,system=M,... (default 32; 3000 with --rate)")
    parser.add_argument("--conns", type=int, default=64, help="keep-alive webhook connections")
    parser.add_argument("--rate", type=float, default=0.0, help="fixed arrival rate (msgs/s, Poisson); 0 = closed loop")
    parser.add_argument("--max-other", type=float, default=0.25,
                        help="a run during which other processes used more than this share of a core is done again")
    parser.add_argument("--retries", type=int, default=2, help="how many times at most (0: never)")
    parser.add_argument("--load-cpu", default="0")
    parser.add_argument("--sut-cpu", default="1")
    parser.add_argument("--redis-cpu", default="", help="default: the system's cpu")
    parser.add_argument("--redis-tcp", action="store_true", help="Redis over TCP loopback (default: a unix socket)")
    parser.add_argument("--redis-pool", type=int, default=0,
                        help="max_connections in flowbot's REDIS_URL (0: flowbot's own FLOWBOT_REDIS_CONNECTIONS)")
    parser.add_argument("--send-rate", default="100000", help="FLOWBOT_SEND_RATE for flowbot (flowbot-80 uses 80)")
    parser.add_argument("--turn-concurrency", type=int, default=64)
    parser.add_argument("--send-concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="worker processes for flowbot-split")
    parser.add_argument("--worker-cpu", default="", help="cpu for flowbot-split's worker processes (default: the system's)")
    parser.add_argument("--base", default="", help="for flowbot-base: a directory holding another copy of engine/ "
                        "(cp -r engine actions schemas locales templates DIR) to compare with this tree")
    parser.add_argument("--log-level", default="warning", help="FLOWBOT_LOG_LEVEL of the flowbot systems")
    parser.add_argument("--profile", action="store_true", help="py-spy the systems' processes during the measured window")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
