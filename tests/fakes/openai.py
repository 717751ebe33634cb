"""OpenAIFake: a server that speaks the OpenAI HTTP API on loopback, for tests and development.

It answers like the API — same paths, same response objects, same `{"error": {...}}` bodies —
so the product reaches it only through `OPENAI_BASE_URL` (or the client's `base_url`), with
the real `openai` client doing the HTTP. Deterministic throughout:

- POST /v1/chat/completions checks what the API requires (model, messages, response_format;
  a strict json_schema must list every property in `required` and close every object with
  `additionalProperties: false`) and answers with the next canned reply (`reply`), the first
  matching rule (`reply_when`), or else the smallest value its schema allows. A canned reply
  that breaks a strict schema is a 500 saying so: the real API never breaks its schema.
- POST /v1/embeddings: a hashed bag of character trigrams, L2-normalized (texts sharing
  trigrams are close), as floats or base64 float32 like the API; `usage` counts words.
- POST /v1/moderations: flags texts containing a word registered with `flag`.

Failure controls: `fail_next(n, status, path=None)` (500, 429, ... with the API's error objects),
`delay(seconds)`. `requests` holds every request; `count(path)` how many hit a path.

    async with OpenAIFake() as fake:             # fake.url is the base URL, ending in /v1
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url); monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        fake.reply({"intent": "buy", "confidence": 0.9})

Run it alone with `python tests/fakes/openai.py --port 8091` (then
`OPENAI_BASE_URL=http://127.0.0.1:8091/v1 OPENAI_API_KEY=sk-fake`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import json
import math
import re
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

try:
    from fakes._loopback import LoopbackFake
except ImportError:  # run as a script
    from _loopback import LoopbackFake  # type: ignore[no-redef]
from jsonschema import Draft202012Validator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY = web.RequestKey("body", dict)
Content = Any  # a str, a JSON value (sent as JSON text), or a callable(request body) -> either

MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_STATUS_ERRORS = {
    400: ("Bad request", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model", "invalid_request_error", None),
    404: ("The model does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


def error_body(message: str, type_: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """The API's error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    authorization: str
    body: Any


class OpenAIFake(LoopbackFake):
    url_path = "/v1"  # the base URL the openai client takes

    def __init__(self, api_key: str = "sk-fake-test", host: str = "127.0.0.1", port: int = 0,
                 dimensions: int = 256) -> None:
        super().__init__(host, port)
        self.api_key, self.dimensions = api_key, dimensions
        self.requests: list[Received] = []
        self.flagged_words: dict[str, str] = {}
        self._replies: deque[Content] = deque()
        self._rules: list[tuple[str, Content]] = []
        self._failures: list[tuple[str | None, int, dict[str, Any], dict[str, str]]] = []
        self._delay = 0.0
        self._ids = itertools.count(1)

    # ── what the test registers ───────────────────────────────────────────────────────────
    def reply(self, content: Content) -> None:
        """The next chat completion answers `content` (in the order registered, once each)."""
        self._replies.append(content)

    def reply_when(self, contains: str, content: Content) -> None:
        """Every chat completion whose last user message contains `contains` answers `content`."""
        self._rules.append((contains.casefold(), content))

    def refuse_next(self, refusal: str = "I'm sorry, I can't help with that.") -> None:
        self._replies.append(_Refusal(refusal))

    def flag(self, word: str, category: str = "harassment") -> None:
        """Moderation flags texts containing `word` (case-insensitive) under `category`."""
        if category not in MODERATION_CATEGORIES:
            raise ValueError(f"unknown moderation category {category!r}")
        self.flagged_words[word.casefold()] = category

    def fail_next(self, n: int = 1, status: int = 500, message: str | None = None, path: str | None = None) -> None:
        """The next `n` requests (to `path` only, "embeddings" or "/v1/embeddings", when given) get
        `status` with the API's error object for it."""
        default, type_, code = _STATUS_ERRORS.get(status, ("Error", "server_error", None))
        headers = {"retry-after-ms": "10"} if status == 429 else {}
        where = None if path is None else (path if path.startswith("/") else f"/v1/{path}")
        self._failures.extend((where, status, error_body(message or default, type_, None, code), headers)
                              for _ in range(n))

    def delay(self, seconds: float) -> None:
        """Answer every request `seconds` late (0 to stop)."""
        self._delay = seconds

    def count(self, path: str) -> int:
        """How many requests reached `path` ("/v1/embeddings", or "embeddings")."""
        suffix = path if path.startswith("/") else f"/v1/{path}"
        return sum(1 for r in self.requests if r.path == suffix)

    # ── lifecycle ─────────────────────────────────────────────────────────────────────────
    def app(self) -> web.Application:
        return web.Application(middlewares=[self._front])

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/chat/completions", self._chat)
        router.add_post("/v1/embeddings", self._embeddings)
        router.add_post("/v1/moderations", self._moderations)

    # ── request handling ──────────────────────────────────────────────────────────────────
    @web.middleware
    async def _front(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        authorization = request.headers.get("Authorization", "")
        self.requests.append(Received(request.method, request.path, authorization, body))
        if self._delay:
            await asyncio.sleep(self._delay)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _json(401, error_body("You didn't provide an API key. You need to provide your API key in an "
                                         "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."))
        if token != self.api_key:
            return _json(401, error_body(f"Incorrect API key provided: {token[:3]}***{token[-4:]}.",
                                         code="invalid_api_key"))
        failure = next((f for f in self._failures if f[0] in (None, request.path)), None)
        if failure is not None:
            self._failures.remove(failure)
            return _json(failure[1], failure[2], failure[3])
        if request.match_info.http_exception is not None:
            return _json(404, error_body(f"Invalid URL ({request.method} {request.path})"))
        if not isinstance(body, dict):
            return _json(400, error_body("We could not parse the JSON body of your request."))
        request[BODY] = body
        return await handler(request)

    async def _chat(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = request[BODY]
        problem = check_chat(body)
        if problem is not None:
            return _json(400, error_body(problem[1], param=problem[0]))
        schema = _strict_schema(body)
        content = self._content(body, schema)
        refusal = None
        if isinstance(content, _Refusal):
            refusal, content = content.text, None
        elif not isinstance(content, str):
            content = json.dumps(content)
        if content is not None and schema is not None:
            errors = _schema_errors(schema, content)
            if errors:
                return _json(500, error_body(f"fake: the canned answer does not match the request's schema: {errors}",
                                             "server_error"))
        prompt = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        completion = len((content or refusal or "").split())
        return _json(200, {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        })

    def _content(self, body: dict[str, Any], schema: dict[str, Any] | None) -> Any:
        if self._replies:
            content = self._replies.popleft()
        else:
            last = next((m for m in reversed(body["messages"]) if m.get("role") == "user"), {})
            text = _text(last.get("content")).casefold()
            content = next((c for needle, c in self._rules if needle in text), None)
            if content is None:
                return minimal(schema) if schema is not None else "OK"
        return content(body) if callable(content) and not isinstance(content, _Refusal) else content

    async def _embeddings(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = request[BODY]
        if not isinstance(body.get("model"), str) or not body["model"]:
            return _json(400, error_body("you must provide a model parameter", param="model"))
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return _json(400, error_body("'input' is a required property", param="input"))
        if any(isinstance(i, str) and not i for i in inputs):
            return _json(400, error_body("'$.input' is invalid. Please check the API reference.", param="input"))
        dimensions = body.get("dimensions") or self.dimensions
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return _json(400, error_body(f"Invalid encoding_format {encoding!r}", param="encoding_format"))
        data = []
        for i, item in enumerate(inputs):
            vector = hashed_embedding(item if isinstance(item, str) else " ".join(map(str, item)), dimensions)
            packed: Any = (base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                           if encoding == "base64" else vector)
            data.append({"object": "embedding", "index": i, "embedding": packed})
        tokens = sum(len(str(i).split()) for i in inputs)
        return _json(200, {"object": "list", "data": data, "model": body["model"],
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def _moderations(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = request[BODY]
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs:
            return _json(400, error_body("'input' is a required property", param="input"))
        if all(isinstance(i, dict) for i in inputs):  # multimodal: one result for all parts
            inputs = [" ".join(str(p.get("text", "")) for p in inputs if p.get("type") == "text")]
        results = []
        for item in inputs:
            text = str(item).casefold()
            hit = {cat for word, cat in self.flagged_words.items() if word in text}
            results.append({
                "flagged": bool(hit),
                "categories": {c: c in hit for c in MODERATION_CATEGORIES},
                "category_scores": {c: (0.98 if c in hit else 0.0001) for c in MODERATION_CATEGORIES},
                "category_applied_input_types": {c: ["text"] for c in MODERATION_CATEGORIES},
            })
        return _json(200, {"id": f"modr-fake{next(self._ids)}", "model": body.get("model") or "omni-moderation-latest",
                           "results": results})


@dataclass(frozen=True, slots=True)
class _Refusal:
    text: str


# ── the rules the API enforces, and deterministic answers ────────────────────────────────


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content or "")


def check_chat(body: dict[str, Any]) -> tuple[str, str] | None:
    """(param, message) of the first thing the API would refuse in a chat completion request."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model", "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages", "'messages' must contain at least one message"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            return f"messages.[{i}].role", f"Invalid value for 'messages[{i}].role'"
        if not isinstance(m.get("content"), (str, list)) and m.get("role") != "assistant":
            return f"messages.[{i}].content", f"Invalid type for 'messages[{i}].content'"
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        return "response_format.type", "Invalid value for 'response_format.type': expected text, json_object or json_schema"
    if fmt["type"] == "json_object" and not any("json" in _text(m.get("content")).lower() for m in messages):
        return "messages", "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
    if fmt["type"] == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not _SCHEMA_NAME.match(str(spec.get("name", ""))):
            return "response_format.json_schema.name", "a json_schema needs a name of letters, digits, _ and - (64 at most)"
        if not isinstance(spec.get("schema"), dict):
            return "response_format.json_schema.schema", "a json_schema needs a schema object"
        if spec.get("strict"):
            problem = strict_problem(spec["schema"])
            if problem:
                return "response_format", f"Invalid schema for response_format '{spec['name']}': {problem}"
    return None


def strict_problem(schema: dict[str, Any], where: str = "context=()") -> str | None:
    """What strict structured outputs would refuse in `schema` (root: an object)."""
    if where == "context=()" and schema.get("type") != "object":
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{schema.get('type')}\"'."
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    props = schema.get("properties")
    if "object" in kinds or isinstance(props, dict):
        if schema.get("additionalProperties") is not False:
            return f"In {where}, 'additionalProperties' is required to be supplied and to be false."
        keys = list((props or {}).keys())
        if sorted(schema.get("required") or []) != sorted(keys):
            missing = [k for k in keys if k not in (schema.get("required") or [])]
            return (f"In {where}, 'required' is required to be supplied and to be an array including every key in "
                    f"properties. Missing '{missing[0] if missing else '?'}'.")
        for key, sub in (props or {}).items():
            found = strict_problem(sub, f"{where[:-1]}, 'properties', '{key}')") if isinstance(sub, dict) else None
            if found:
                return found
    if isinstance(schema.get("items"), dict):
        found = strict_problem(schema["items"], f"{where[:-1]}, 'items')")
        if found:
            return found
    for key in ("anyOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or []):
            found = strict_problem(sub, f"{where[:-1]}, '{key}', {i})") if isinstance(sub, dict) else None
            if found:
                return found
    if "oneOf" in schema:
        return f"In {where}, 'oneOf' is not permitted."
    return None


def _strict_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema" and fmt["json_schema"].get("strict"):
        return dict(fmt["json_schema"]["schema"])
    return None


def _schema_errors(schema: dict[str, Any], content: str) -> str:
    try:
        value = json.loads(content)
    except ValueError:
        return "not JSON"
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
              for e in Draft202012Validator(schema).iter_errors(value)]
    return "; ".join(errors[:3])


def minimal(schema: dict[str, Any] | None) -> Any:
    """The smallest value `schema` allows: null where allowed, else the first enum value, "", 0, [], {...}
    (a few patterns, formats and minimums respected)."""
    if not schema:
        return None
    if "anyOf" in schema:
        options = schema["anyOf"]
        nullable = next((o for o in options if o.get("type") == "null"), None)
        return None if nullable is not None else minimal(options[0])
    if "enum" in schema:
        return None if None in schema["enum"] else schema["enum"][0]
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "null" in kinds:
        return None
    kind = kinds[0]
    if kind == "object":
        return {k: minimal(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [minimal(schema.get("items") or {}) for _ in range(int(schema.get("minItems", 0)))]
    if kind in ("number", "integer"):
        if "exclusiveMinimum" in schema:
            return schema["exclusiveMinimum"] + 1
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    for candidate in ("", "a", "AAA", "2026-01-01", "0"):  # the first a pattern or format accepts
        if schema.get("format") == "date" and candidate != "2026-01-01":
            continue
        if len(candidate) >= schema.get("minLength", 0) and re.search(schema.get("pattern", ""), candidate):
            return candidate
    return ""


def hashed_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic embedding: pg_trgm-style word trigrams hashed into `dimensions` signed buckets."""
    vector = [0.0] * dimensions
    for word in re.findall(r"[^\W_]+", text.casefold()):
        padded = f"  {word} "
        for i in range(len(padded) - 2):
            digest = hashlib.blake2b(padded[i:i + 3].encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % dimensions
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def main() -> None:
    parser = argparse.ArgumentParser(description="An OpenAI-compatible fake API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--api-key", default="sk-fake")
    args = parser.parse_args()

    async def serve() -> None:
        fake = await OpenAIFake(args.api_key, args.host, args.port).start()
        print(f"OPENAI_BASE_URL={fake.url} OPENAI_API_KEY={fake.api_key}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
