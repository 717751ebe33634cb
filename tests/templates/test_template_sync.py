"""list, apply and delete over real HTTP against the Graph fake."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from fakes.graph import GraphFake
from fakes.graph_rules import graph_error
from fakes.graph_templates import set_status

from engine.templates import sync
from engine.templates.files import load_dir
from engine.templates.graph import GraphError, TemplatesAPI

WABA = "102290129340398"


class Lines(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)


def seed(fake: GraphFake, names: list[str]) -> None:
    for i, name in enumerate(names):
        fake.templates[str(1000 + i)] = {"id": str(1000 + i), "name": name, "language": "en", "category": "UTILITY",
                                         "status": "APPROVED", "components": [{"type": "BODY", "text": "Hi"}]}


def remote(fake: GraphFake) -> list[tuple[str, str, str, str]]:
    return sorted((t["name"], t["language"], t["category"], t["status"]) for t in fake.templates.values())


async def test_list_follows_paging_next(graph_fake: GraphFake, api: TemplatesAPI) -> None:
    seed(graph_fake, [f"t{i}_v1" for i in range(5)])
    items = await api.list(limit=2)
    assert [i["name"] for i in items] == ["t0_v1", "t1_v1", "t2_v1", "t3_v1", "t4_v1"]
    assert set(items[0]) == {"id", "name", "status", "category", "language"}
    pages = [(m, p) for m, p, _ in graph_fake.requests]
    assert pages == [("GET", f"/v23.0/{WABA}/message_templates")] * 3  # 2 + 2 + 1
    assert all(auth == f"Bearer {api._token}" for _, _, auth in graph_fake.requests)


async def test_list_prints_a_table(graph_fake: GraphFake, api: TemplatesAPI) -> None:
    seed(graph_fake, ["b_v1", "a_v1"])
    out = Lines()
    await sync.list_templates(api, out, limit=1)
    assert out == ["a_v1  en     UTILITY        APPROVED   1001", "b_v1  en     UTILITY        APPROVED   1000"]


async def test_list_of_nothing(api: TemplatesAPI) -> None:
    out = Lines()
    assert await sync.list_templates(api, out) == []
    assert out == [f"no templates on WhatsApp Business Account {WABA}"]


def test_a_next_page_elsewhere_is_asked_for_by_cursor() -> None:
    """A `paging.next` on another host does not get the token: the same request goes on with `after`."""
    client = TemplatesAPI("tok", WABA, base_url="https://graph.facebook.com", version="v23.0")
    ours = f"https://graph.facebook.com/v23.0/{WABA}/message_templates"
    params = {"fields": "name", "limit": "2"}
    same = {"paging": {"next": ours + "?after=QQ", "cursors": {"after": "QQ"}}}
    elsewhere = {"paging": {"next": "https://graph.example.net/v23.0/x?after=QQ", "cursors": {"after": "QQ"}}}
    assert client._next(same, params) == (ours + "?after=QQ", {})
    assert client._next(elsewhere, params) == (ours, {**params, "after": "QQ"})
    assert client._next({"paging": {"cursors": {"after": "QQ"}}}, params) == (None, params)  # the last page
    assert client._next({"paging": {"next": "https://graph.example.net/x"}}, params) == (None, params)


async def test_apply_creates_then_is_a_no_op_then_edits_then_versions(
        graph_fake: GraphFake, api: TemplatesAPI, folder: Path) -> None:
    templates, problems = load_dir(folder)
    assert problems == []

    out = Lines()
    summary = await sync.apply(api, templates, out)
    assert (summary.created, str(summary)) == (2, "2 created")
    assert remote(graph_fake) == [("parcel_v1", "en", "UTILITY", "PENDING"), ("parcel_v1", "sw", "UTILITY", "PENDING")]
    created = next(t for t in graph_fake.templates.values() if t["language"] == "en")
    assert created["components"] == [
        {"type": "BODY", "text": "Your parcel {{1}} is now: {{2}}.",
         "example": {"body_text": [["HD-1236", "out for delivery"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Track"}]},
    ]
    assert out[0].startswith("created   parcel_v1 [en] UTILITY PENDING (id ")

    out = Lines()
    requests = len(graph_fake.requests)
    assert str(await sync.apply(api, templates, out)) == "2 unchanged"
    assert [m for m, _, _ in graph_fake.requests[requests:]] == ["GET"]  # nothing but the list

    # The en text changes while the templates are still in review: WhatsApp cannot edit them yet.
    text = folder.joinpath("parcel.yaml").read_text().replace("is now: {{2}}.", "is now {{2}}.")
    folder.joinpath("parcel.yaml").write_text(text)
    templates, _ = load_dir(folder)
    out = Lines()
    assert str(await sync.apply(api, templates, out)) == "1 unchanged, 1 waiting"
    assert "waiting   parcel_v1 [en] (text changed): it is PENDING" in out.text()

    set_status(graph_fake.templates, "APPROVED")
    out = Lines()
    assert str(await sync.apply(api, templates, out)) == "1 edited, 1 unchanged"
    assert "edited    parcel_v1 [en] (text changed)" in out
    assert created["components"][0]["text"] == "Your parcel {{1}} is now {{2}}."
    assert created["status"] == "APPROVED"

    # The category changes: WhatsApp refuses it for an approved template, so parcel_v2 is made.
    folder.joinpath("parcel.yaml").write_text(text.replace("category: utility", "category: marketing"))
    templates, _ = load_dir(folder)
    out = Lines()
    summary = await sync.apply(api, templates, out, bots=[])
    assert str(summary) == "2 created, 1 versioned"
    assert remote(graph_fake) == [
        ("parcel_v1", "en", "UTILITY", "APPROVED"), ("parcel_v1", "sw", "UTILITY", "APPROVED"),
        ("parcel_v2", "en", "MARKETING", "PENDING"), ("parcel_v2", "sw", "MARKETING", "PENDING"),
    ]
    printed = out.text()
    assert "refused   parcel_v1 [en] category UTILITY → MARKETING: error 100/2388299: Invalid parameter" in printed
    assert "versioned parcel_v1 → parcel_v2: WhatsApp does not change an approved template's category" in printed
    assert "the flows must reference parcel_v2 now" in printed
    assert f"set `version: 2` in {folder / 'parcel.yaml'}" in printed

    # Until the file says version 2, apply works on parcel_v2 and says so.
    out = Lines()
    assert str(await sync.apply(api, templates, out)) == "2 unchanged"
    assert out[0].startswith(f"note      parcel_v2 is on WhatsApp but {folder / 'parcel.yaml'} says version 1")


async def test_versioning_names_the_manifests_to_change(graph_fake: GraphFake, api: TemplatesAPI, folder: Path,
                                                        tmp_path: Path) -> None:
    bot = tmp_path / "flows" / "shop"
    bot.mkdir(parents=True)
    bot.joinpath("bot.yaml").write_text(textwrap.dedent("""\
        bot: shop
        start: main
        languages: [en, sw]
        templates:
          parcel: {name: parcel_v1, params: ["{{ slots.code }}", "{{ slots.status }}"]}
        """))
    templates, _ = load_dir(folder)
    await sync.apply(api, templates, Lines())
    set_status(graph_fake.templates, "APPROVED")
    folder.joinpath("parcel.yaml").write_text(folder.joinpath("parcel.yaml").read_text()
                                              .replace("utility", "marketing"))
    templates, _ = load_dir(folder)
    out = Lines()
    await sync.apply(api, templates, out, bots=[bot])
    assert f"          {bot / 'bot.yaml'}:5:18: templates.parcel.name: parcel_v1 → parcel_v2" in out


async def test_a_category_change_in_review_state_is_edited_in_place(graph_fake: GraphFake, api: TemplatesAPI,
                                                                    folder: Path) -> None:
    """A REJECTED template may change category: no new version."""
    templates, _ = load_dir(folder)
    await sync.apply(api, templates, Lines())
    set_status(graph_fake.templates, "REJECTED")
    folder.joinpath("parcel.yaml").write_text(folder.joinpath("parcel.yaml").read_text()
                                              .replace("utility", "marketing"))
    templates, _ = load_dir(folder)
    out = Lines()
    assert str(await sync.apply(api, templates, out)) == "2 edited"
    assert "edited    parcel_v1 [en] (category UTILITY → MARKETING)" in out
    assert remote(graph_fake) == [("parcel_v1", "en", "MARKETING", "PENDING"), ("parcel_v1", "sw", "MARKETING", "PENDING")]


async def test_apply_does_not_version_twice_without_the_file_saying_so(graph_fake: GraphFake, api: TemplatesAPI,
                                                                        folder: Path) -> None:
    seed(graph_fake, [])
    for i, version in enumerate((1, 2)):
        for lang in ("en", "sw"):
            tid = f"{version}{i}{lang}"
            graph_fake.templates[tid] = {"id": tid, "name": f"parcel_v{version}", "language": lang,
                                         "category": "MARKETING", "status": "APPROVED", "components": []}
    templates, _ = load_dir(folder)  # utility, version 1
    out = Lines()
    summary = await sync.apply(api, templates, out)
    assert summary.refused == 1 and summary.created == 0
    assert "not versioning again" in out.text()


async def test_dry_run_changes_nothing(graph_fake: GraphFake, api: TemplatesAPI, folder: Path) -> None:
    templates, _ = load_dir(folder)
    out = Lines()
    await sync.apply(api, templates, out, dry_run=True)
    assert out == ["would create parcel_v1 [en] UTILITY", "would create parcel_v1 [sw] UTILITY"]
    assert graph_fake.templates == {}
    assert {m for m, _, _ in graph_fake.requests} == {"GET"}


async def test_a_language_only_on_whatsapp_is_reported_not_deleted(graph_fake: GraphFake, api: TemplatesAPI,
                                                                   folder: Path) -> None:
    templates, _ = load_dir(folder)
    await sync.apply(api, templates, Lines())
    graph_fake.templates["77"] = {"id": "77", "name": "parcel_v1", "language": "fr", "category": "UTILITY",
                                  "status": "APPROVED", "components": []}
    out = Lines()
    await sync.apply(api, templates, out)
    assert "note      parcel_v1 [fr] is on WhatsApp but not in" in out.text()
    assert "77" in graph_fake.templates


async def test_delete_every_language_or_one(graph_fake: GraphFake, api: TemplatesAPI, folder: Path) -> None:
    templates, _ = load_dir(folder)
    await sync.apply(api, templates, Lines())
    out = Lines()
    await sync.delete(api, "parcel_v1", "sw", out)
    assert out == ["deleted   parcel_v1 [sw]"]
    assert remote(graph_fake) == [("parcel_v1", "en", "UTILITY", "PENDING")]
    deletes = [p for m, p, _ in graph_fake.requests if m == "DELETE"]
    assert deletes == [f"/v23.0/{WABA}/message_templates"]

    with pytest.raises(sync.SyncError, match=r"parcel_v1 has no 'sw' template \(it has: en\)"):
        await sync.delete(api, "parcel_v1", "sw", Lines())
    with pytest.raises(sync.SyncError, match=r"no template named 'parcel' .* \(there is: parcel_v1\)"):
        await sync.delete(api, "parcel", None, Lines())

    out = Lines()
    await sync.delete(api, "parcel_v1", None, out, dry_run=True)
    assert out == ["would delete parcel_v1 [en]"] and graph_fake.templates
    await sync.delete(api, "parcel_v1", None, out)
    assert out[-1] == "deleted   parcel_v1 [en]" and graph_fake.templates == {}


async def test_a_graph_error_carries_code_subcode_and_trace(graph_fake: GraphFake, api: TemplatesAPI,
                                                            folder: Path) -> None:
    body = graph_error(100, "Invalid parameter", subcode=2388024)
    body["error"]["error_user_msg"] = "Content in this language already exists."
    graph_fake.fail_next(1, status=400, body=body)
    with pytest.raises(GraphError) as caught:
        await api.list()
    trace = body["error"]["fbtrace_id"]
    assert str(caught.value) == (f"error 100/2388024: Invalid parameter — Content in this language already exists. "
                                 f"(fbtrace_id {trace})")


async def test_an_existing_name_and_language_is_refused_by_the_fake(api: TemplatesAPI, folder: Path) -> None:
    templates, _ = load_dir(folder)
    from engine.templates.files import create_body

    await api.create(create_body(templates[0], "en"))
    with pytest.raises(GraphError) as caught:
        await api.create(create_body(templates[0], "en"))
    assert (caught.value.code, caught.value.subcode) == (100, 2388024)


async def test_unreachable_graph_is_an_error_without_the_token() -> None:
    async with TemplatesAPI("secret-token-123", WABA, base_url="http://127.0.0.1:9") as client:
        with pytest.raises(GraphError) as caught:
            await client.list()
    assert str(caught.value).startswith("error -/-: cannot reach http://127.0.0.1:9")
    assert "secret-token-123" not in str(caught.value) and "secret-token-123" not in repr(client)
