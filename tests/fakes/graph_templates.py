"""Graph's message-template endpoints for GraphFake (tests/fakes/graph.py registers them).

    GET    /{version}/{waba_id}/message_templates   {data: [...], paging: {cursors: {before, after}, next}}
           (fields, limit (default 25), after, and the filters name (contains), language, status, category)
    POST   /{version}/{waba_id}/message_templates   create -> {id, status: "PENDING", category}
    POST   /{version}/{template_id}                 edit {components, category} -> {success: true}
    DELETE /{version}/{waba_id}/message_templates   ?name=N (every language) or ?name=N&hsm_id=ID -> {success: true}

State: `templates`, GraphFake.templates: template id -> the template as Graph lists it
({id, name, language, category, status, components}). Tests change a template's review state
with `set_status(fake.templates, "APPROVED")`.

Rules from Meta's template-management page (Graph v23.0): a (name, language) pair exists once;
only APPROVED, REJECTED and PAUSED templates can be edited; an approved template's category
cannot be changed; deleting by name deletes every language, with hsm_id only that one.

ASSUMED, not from /work/shared/fixtures (none covers template management): the error bodies
for those refusals. Code 100 everywhere; subcode 2388024 for an existing (name, language) (as
public Graph clients report it); subcode 2388299 for a refused category change (invented:
the real subcode is unknown) and none for an edit in the wrong state or an unknown name.
Edit-rate limits (1 a day, 10 a month for approved templates) and the 30-day block on a deleted
name are not modelled.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any

from aiohttp import web

try:
    from fakes.graph_rules import graph_error, missing, unknown_object
except ImportError:  # run as a script
    from graph_rules import graph_error, missing, unknown_object  # type: ignore[no-redef]

CATEGORIES = frozenset({"UTILITY", "MARKETING", "AUTHENTICATION"})
EDITABLE = frozenset({"APPROVED", "REJECTED", "PAUSED"})
DEFAULT_FIELDS = ("name", "components", "language", "status", "category")
EXISTS_SUBCODE = 2388024
CATEGORY_LOCKED_SUBCODE = 2388299  # ASSUMED (see module doc)


def set_status(templates: dict[str, dict[str, Any]], status: str, *, name: str | None = None,
               language: str | None = None) -> None:
    """Review outcome: give `status` to every template (or those of `name` / `language`)."""
    for template in templates.values():
        if (name is None or template["name"] == name) and (language is None or template["language"] == language):
            template["status"] = status


class TemplateRoutes:
    def __init__(self, templates: dict[str, dict[str, Any]]) -> None:
        self.templates = templates

    def add_to(self, router: web.UrlDispatcher) -> None:
        router.add_get("/{version}/{waba_id}/message_templates", self._list)
        router.add_post("/{version}/{waba_id}/message_templates", self._create)
        router.add_delete("/{version}/{waba_id}/message_templates", self._delete)
        router.add_post("/{version}/{template_id}", self._edit)

    async def _list(self, request: web.Request) -> web.Response:
        query = request.query
        fields = [f for f in query.get("fields", ",".join(DEFAULT_FIELDS)).split(",") if f]
        try:
            limit = int(query.get("limit", "25"))
            start = int(base64.urlsafe_b64decode(query["after"]).decode()) if "after" in query else 0
        except (ValueError, UnicodeDecodeError):
            return _json(400, graph_error(100, "(#100) Invalid parameter"))
        matching = [t for t in self.templates.values() if _matches(t, query)]
        page = matching[start:start + max(1, limit)]
        end = start + len(page)
        paging: dict[str, Any] = {"cursors": {"before": _cursor(start), "after": _cursor(end)}}
        if end < len(matching):
            paging["next"] = str(request.url.update_query({"after": _cursor(end)}))
        data = [{**{f: t[f] for f in fields if f in t}, "id": t["id"]} for t in page]
        return _json(200, {"data": data, "paging": paging})

    async def _create(self, request: web.Request) -> web.Response:
        body = await _body(request)
        if body is None:
            return _json(400, graph_error(100, "Invalid JSON in request body"))
        for key in ("name", "language", "category", "components"):
            if key not in body:
                return _json(400, graph_error(*missing(key)))
        name, language, category = body["name"], body["language"], str(body["category"]).upper()
        if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,512}", name):
            return _json(400, _invalid("Template names are lowercase letters, digits and underscores."))
        if category not in CATEGORIES:
            return _json(400, _invalid(f"Invalid category {body['category']!r}."))
        problem = _check_components(body["components"])
        if problem:
            return _json(400, _invalid(problem))
        if any(t["name"] == name and t["language"] == language for t in self.templates.values()):
            return _json(400, _refusal("Content in this language already exists",
                                       f"{name} already has content in {language}.", EXISTS_SUBCODE))
        template_id = str(secrets.randbelow(10**15) + 10**15)
        self.templates[template_id] = {"id": template_id, "name": name, "language": language,
                                       "category": category, "status": "PENDING", "components": body["components"]}
        return _json(200, {"id": template_id, "status": "PENDING", "category": category})

    async def _edit(self, request: web.Request) -> web.Response:
        template_id = request.match_info["template_id"]
        template = self.templates.get(template_id)
        if template is None:
            return _json(400, unknown_object(template_id))
        body = await _body(request)
        if body is None:
            return _json(400, graph_error(100, "Invalid JSON in request body"))
        if template["status"] not in EDITABLE:
            return _json(400, _refusal("Template can't be edited",
                                       f"Only APPROVED, REJECTED or PAUSED templates can be edited; this one is "
                                       f"{template['status']}."))
        category = str(body.get("category", template["category"])).upper()
        if category not in CATEGORIES:
            return _json(400, _invalid(f"Invalid category {body['category']!r}."))
        if category != template["category"] and template["status"] == "APPROVED":
            return _json(400, _refusal("Template category can't be changed",
                                       "The category of an approved template can't be changed. Create a new "
                                       "template with the category you want.", CATEGORY_LOCKED_SUBCODE))
        if "components" in body:
            problem = _check_components(body["components"])
            if problem:
                return _json(400, _invalid(problem))
            template["components"] = body["components"]
        template["category"] = category
        if template["status"] == "REJECTED":
            template["status"] = "PENDING"  # reviewed again; approved and paused ones stay usable
        return _json(200, {"success": True})

    async def _delete(self, request: web.Request) -> web.Response:
        name = request.query.get("name")
        if not name:
            return _json(400, graph_error(*missing("name")))
        hsm_id = request.query.get("hsm_id")
        doomed = [i for i, t in self.templates.items() if t["name"] == name and (hsm_id is None or i == hsm_id)]
        if not doomed:
            return _json(400, _refusal("Message template not found", f"No template named {name} to delete."))
        for template_id in doomed:
            del self.templates[template_id]
        return _json(200, {"success": True})


def _matches(template: dict[str, Any], query: Any) -> bool:
    if "name" in query and query["name"] not in template["name"]:
        return False
    return all(key not in query or str(template[key]).upper() == query[key].upper()
               for key in ("language", "status", "category"))


def _check_components(components: Any) -> str:
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        return "components must be a list of objects."
    bodies = [c for c in components if str(c.get("type", "")).upper() == "BODY"]
    if len(bodies) != 1 or not isinstance(bodies[0].get("text"), str) or not bodies[0]["text"]:
        return "A template needs exactly one BODY component with text."
    count = len(set(re.findall(r"\{\{(\d+)\}\}", bodies[0]["text"])))
    if count:
        sample = (bodies[0].get("example") or {}).get("body_text")
        if not (isinstance(sample, list) and sample and isinstance(sample[0], list) and len(sample[0]) == count):
            return f"The body has {count} variable(s): example.body_text needs one sample for each."
    return ""


def _invalid(message: str) -> dict[str, Any]:
    return _refusal("Invalid parameter", message)


def _refusal(title: str, message: str, subcode: int | None = None) -> dict[str, Any]:
    body = graph_error(100, "Invalid parameter", subcode=subcode)
    body["error"]["error_user_title"] = title
    body["error"]["error_user_msg"] = message
    return body


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(str(index).encode()).decode()


async def _body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)
