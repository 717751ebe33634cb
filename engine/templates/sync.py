"""`list`, `apply` and `delete`: the template files against a WhatsApp Business Account.

apply, for each file, at its current version (the highest of the file's `version` and the
`<name>_vN` already on WhatsApp):
- a language missing on WhatsApp is created (it starts PENDING review);
- a language whose text, header, footer or buttons changed is edited in place (`POST
  /{template_id}`), with its category when that changed too. WhatsApp edits only APPROVED,
  REJECTED and PAUSED templates; others are reported as waiting and left alone. Samples
  (`examples`) alone are not compared: WhatsApp allows few edits (an approved template: once a
  day, 10 times a month), so a new sample is not worth one;
- when WhatsApp refuses the category change (it does for an approved template), every language
  is created as `<name>_v<N+1>` and apply prints which manifests must name it. It does this only
  when the file's `version` is the current one, so a template WhatsApp keeps recategorizing is
  versioned once per human decision, not once per run;
- a language on WhatsApp that the file no longer has is reported, not deleted.

Any other Graph failure stops the run: the caller prints `error <code>/<subcode>: ...`.

Assumption (no fixture has it; Meta documents the rule, not the error): Graph refuses a
category change with code 100 and a subcode like 2388299, or a message naming the category.
`category_refused` accepts either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.templates.files import (
    TemplateFile,
    components,
    content,
    create_body,
    split_version,
)
from engine.templates.graph import LIST_FIELDS, GraphError, TemplatesAPI
from engine.templates.references import references_to

Output = Callable[[str], None]
APPLY_FIELDS = ("id", "name", "status", "category", "language", "components")
EDITABLE = frozenset({"APPROVED", "REJECTED", "PAUSED"})
CATEGORY_REFUSED_SUBCODES = frozenset({2388299})  # ASSUMED: not in /work/shared/fixtures; see module doc


class SyncError(Exception):
    """Something apply or delete cannot do, that is not a Graph error (a name not found, ...)."""


@dataclass(frozen=True, slots=True)
class Remote:
    """A template as Graph lists it (one name in one language)."""

    id: str
    name: str
    language: str
    status: str
    category: str
    components: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_graph(cls, item: dict[str, Any]) -> Remote:
        comps = item.get("components")
        return cls(str(item.get("id", "")), str(item.get("name", "")), str(item.get("language", "")),
                   str(item.get("status", "")).upper(), str(item.get("category", "")).upper(),
                   comps if isinstance(comps, list) else [])


@dataclass
class Summary:
    created: int = 0
    edited: int = 0
    unchanged: int = 0
    versioned: int = 0
    waiting: int = 0
    refused: int = 0

    def __str__(self) -> str:
        parts = [f"{n} {what}" for what, n in vars(self).items() if n]
        return ", ".join(parts) or "nothing to do"


def category_refused(error: GraphError) -> bool:
    """Whether a failed edit that changed the category failed because of the category."""
    if error.code != 100:
        return False
    if error.subcode in CATEGORY_REFUSED_SUBCODES:
        return True
    return "category" in " ".join((error.message, error.user_title, error.user_message)).lower()


# ── list ────────────────────────────────────────────────────────────────────────────────────
async def list_templates(api: TemplatesAPI, out: Output, *, limit: int | None = None) -> list[Remote]:
    found = [Remote.from_graph(item) for item in await api.list(LIST_FIELDS + ("id",), **_limit(limit))]
    found.sort(key=lambda r: (r.name, r.language))
    if not found:
        out(f"no templates on WhatsApp Business Account {api.waba_id}")
        return found
    width = max(len(r.name) for r in found)
    for r in found:
        out(f"{r.name:<{width}}  {r.language:<6} {r.category:<14} {r.status:<10} {r.id}")
    return found


def _limit(limit: int | None) -> dict[str, int]:
    return {} if limit is None else {"limit": limit}


# ── apply ───────────────────────────────────────────────────────────────────────────────────
async def apply(api: TemplatesAPI, templates: Sequence[TemplateFile], out: Output, *, dry_run: bool = False,
                bots: Sequence[Path] = (), limit: int | None = None) -> Summary:
    remotes = [Remote.from_graph(item) for item in await api.list(APPLY_FIELDS, **_limit(limit))]
    summary = Summary()
    for template in templates:
        await _apply_one(api, template, remotes, out, summary, dry_run, list(bots))
    return summary


async def _apply_one(api: TemplatesAPI, template: TemplateFile, remotes: list[Remote], out: Output,
                     summary: Summary, dry_run: bool, bots: list[Path]) -> None:
    by_version: dict[int, dict[str, Remote]] = {}
    for remote in remotes:
        split = split_version(remote.name)
        if split is not None and split[0] == template.name:
            by_version.setdefault(split[1], {})[remote.language] = remote
    current = max([template.version, *by_version])
    name = template.graph_name(current)
    if current > template.version:
        out(f"note      {name} is on WhatsApp but {template.path} says version {template.version}: "
            f"set `version: {current}` there (and name {name} in the manifests)")
    there = by_version.get(current, {})
    want = template.category.upper()
    for code, lang in template.languages.items():
        remote = there.get(code)
        if remote is None:
            continue
        wanted = components(lang)
        recategorize = remote.category != want
        if not recategorize and content(remote.components) == content(wanted):
            out(f"unchanged {name} [{code}] {remote.category} {remote.status}")
            summary.unchanged += 1
            continue
        change = f"category {remote.category} → {want}" if recategorize else "text changed"
        if remote.status not in EDITABLE:
            out(f"waiting   {name} [{code}] ({change}): it is {remote.status}, and WhatsApp edits a template only "
                "once reviewed (APPROVED, REJECTED or PAUSED); run apply again then")
            summary.waiting += 1
            continue
        body: dict[str, Any] = {"components": wanted}
        if recategorize:
            body["category"] = want
        if dry_run:
            hint = f"; if WhatsApp refuses the category, {template.graph_name(current + 1)}" if recategorize else ""
            out(f"would edit {name} [{code}] ({change}{hint})")
            continue
        try:
            await api.edit(remote.id, body)
        except GraphError as exc:
            if not (recategorize and category_refused(exc)):
                raise
            out(f"refused   {name} [{code}] category {remote.category} → {want}: {exc}")
            if current > template.version:
                out(f"          not versioning again: {template.path} still says version {template.version}; "
                    f"set `version: {current}` there first if {template.graph_name(current + 1)} is really wanted")
                summary.refused += 1
                return
            await _version_up(api, template, current, out, summary, bots)
            return
        out(f"edited    {name} [{code}] ({change})")
        summary.edited += 1
    for code in template.languages:
        if code not in there:
            await _create(api, template, code, current, out, summary, dry_run)
    for code in there:
        if code not in template.languages:
            out(f"note      {name} [{code}] is on WhatsApp but not in {template.path}: "
                f"`flowbot templates delete {name} {code}` removes it")


async def _create(api: TemplatesAPI, template: TemplateFile, code: str, version: int, out: Output,
                  summary: Summary, dry_run: bool) -> None:
    body = create_body(template, code, version)
    if dry_run:
        out(f"would create {body['name']} [{code}] {body['category']}")
        return
    answer = await api.create(body)
    status = str(answer.get("status", "")).upper()
    category = str(answer.get("category", body["category"])).upper()
    out(f"created   {body['name']} [{code}] {category} {status} (id {answer.get('id', '?')})")
    if category != body["category"]:
        out(f"note      WhatsApp made {body['name']} [{code}] {category}, not {body['category']}: "
            f"set `category: {category.lower()}` in {template.path}")
    summary.created += 1


async def _version_up(api: TemplatesAPI, template: TemplateFile, current: int, out: Output, summary: Summary,
                      bots: list[Path]) -> None:
    """WhatsApp keeps the category: the template becomes `<name>_v<current+1>`, every language."""
    old, new = template.graph_name(current), template.graph_name(current + 1)
    for code in template.languages:
        await _create(api, template, code, current + 1, out, summary, dry_run=False)
    summary.versioned += 1
    out(f"versioned {old} → {new}: WhatsApp does not change an approved template's category")
    out(f"          the flows must reference {new} now (the manifests' templates → name):")
    for where in references_to(old, bots) or ["(no manifest under flows/ names it)"]:
        out(f"          {where}: {old} → {new}")
    out(f"          and set `version: {current + 1}` in {template.path}")


# ── delete ──────────────────────────────────────────────────────────────────────────────────
async def delete(api: TemplatesAPI, name: str, language: str | None, out: Output, *,
                 dry_run: bool = False) -> list[Remote]:
    """Deletes `name` in every language, or in `language` only (by its id: `hsm_id`)."""
    listed = [Remote.from_graph(item) for item in await api.list(("id", "name", "language", "status"), name=name)]
    found = [r for r in listed if r.name == name]
    if not found:
        similar = sorted({r.name for r in listed if r.name.startswith(name)})
        hint = f" (there is: {', '.join(similar)})" if similar else ""
        raise SyncError(f"no template named {name!r} on WhatsApp Business Account {api.waba_id}{hint}")
    if language is not None:
        found = [r for r in found if r.language == language]
        if not found:
            languages = ", ".join(sorted(r.language for r in listed if r.name == name))
            raise SyncError(f"{name} has no {language!r} template (it has: {languages})")
    languages = ", ".join(sorted(r.language for r in found))
    if dry_run:
        out(f"would delete {name} [{languages}]")
        return found
    await api.delete(name, hsm_id=found[0].id if language is not None else None)
    out(f"deleted   {name} [{languages}]")
    return found
