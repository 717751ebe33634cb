"""`flowbot templates`: the command line, the demo's references, a Graph error from a real process."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from fakes.graph import GraphFake
from fakes.graph_rules import graph_error
from typer.testing import CliRunner

from engine.cli import app
from engine.templates.files import load_dir
from engine.templates.references import bot_dirs, check_bot, check_bots

ROOT = Path(__file__).resolve().parents[2]
DEMO_TEMPLATES = ROOT / "templates" / "whatsapp"
TOKEN = "EAAG-cli-secret-token-9d2e"


def test_the_demo_bot_names_only_templates_that_exist() -> None:
    templates, problems = load_dir(DEMO_TEMPLATES)
    assert problems == []
    assert check_bot(ROOT / "flows" / "demo", templates, DEMO_TEMPLATES) == []
    assert {t.graph_name() for t in templates if t.name.startswith("haraka_")} == {
        "haraka_booking_reminder_v1", "haraka_parcel_update_v1"}
    assert check_bot(ROOT / "flows" / "jirani", templates, DEMO_TEMPLATES) == []


def test_apply_check_passes_on_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("WHATSAPP_TOKEN", raising=False)  # --check needs no Graph
    result = CliRunner().invoke(app, ["templates", "apply", "--check"])
    assert result.exit_code == 0, result.output
    count = len(list((ROOT / "templates" / "whatsapp").glob("*.yaml")))
    assert result.output.strip().endswith(f"ok: {count} template(s) in templates/whatsapp, {len(bot_dirs())} bot(s)")


def test_apply_check_points_into_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(DEMO_TEMPLATES, tmp_path / "templates" / "whatsapp")
    bot = tmp_path / "flows" / "shop"
    bot.mkdir(parents=True)
    (bot / "bot.yaml").write_text(textwrap.dedent("""\
        bot: shop
        start: main
        languages: [en, sw, fr]
        templates:
          update:
            name: haraka_parcel_update_v2
            category: marketing
            language: {en: en_US}
            params: ["{{ slots.code }}"]
          reminder: {name: haraka_booking_reminder}
          missing: {name: shop_welcome_v1, params: []}
        """))
    result = CliRunner().invoke(app, ["templates", "apply", "--check", "--bot", "flows/shop"])
    assert result.exit_code == 1
    update = "templates/whatsapp/haraka_parcel_update.yaml"
    assert result.stdout.splitlines() == [
        "flows/shop/bot.yaml:6:11: $.templates.update.name: " + update + " has no 'fr' text for the bot's "
        "'fr' users (it has: en, sw) [templates.language]",
        "flows/shop/bot.yaml:6:11: $.templates.update.name: " + update + " is at version 1: name "
        "'haraka_parcel_update_v1', or set `version: 2` there [templates.version]",
        f"flows/shop/bot.yaml:7:15: $.templates.update.category: {update} says the category is utility, not "
        "marketing [templates.category]",
        f"flows/shop/bot.yaml:8:20: $.templates.update.language.en: {update} has no 'en_US' text for the bot's "
        "'en' users (it has: en, sw) [templates.language]",
        "flows/shop/bot.yaml:9:13: $.templates.update.params: haraka_parcel_update_v2 takes 2 value(s) ({{1}}..) "
        "but `params` gives 1 [templates.params]",
        "flows/shop/bot.yaml:10:20: $.templates.reminder.name: 'haraka_booking_reminder' has no version: templates "
        "are named <name>_v<N>, as `flowbot templates apply` creates them from templates/whatsapp/<name>.yaml "
        "[templates.name]",
        "flows/shop/bot.yaml:11:19: $.templates.missing.name: no template 'shop_welcome' in templates/whatsapp/ "
        "(expected templates/whatsapp/shop_welcome.yaml) [templates.missing]",
    ]


def test_broken_files_stop_apply_before_graph(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("name: t\ncategory: promo\nlanguages: {en: {body: Hi}}\n")
    result = CliRunner().invoke(app, ["templates", "apply", "--dir", str(tmp_path)],
                                env={"WHATSAPP_TOKEN": TOKEN, "WHATSAPP_WABA_ID": "1"})
    assert result.exit_code == 1
    assert f"{tmp_path / 't.yaml'}:2:11: $.category: 'promo' is not one of" in result.stdout
    assert "nothing applied" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["templates", "sync"], "the action is list, apply or delete"),
    (["templates", "delete"], "templates delete NAME [LANGUAGE]"),
    (["templates", "list", "x_v1"], "templates list takes no NAME or LANGUAGE"),
    (["templates", "list", "--check"], "--check goes with apply"),
])
def test_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.stderr


def test_the_environment_must_name_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHATSAPP_WABA_ID", raising=False)
    monkeypatch.setenv("WHATSAPP_TOKEN", TOKEN)
    result = CliRunner().invoke(app, ["templates", "list"])
    assert result.exit_code == 2 and "set WHATSAPP_WABA_ID" in result.stderr


async def flowbot(fake: GraphFake, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "WHATSAPP_API_BASE_URL": fake.url, "WHATSAPP_TOKEN": TOKEN, "WHATSAPP_WABA_ID": "4455"}
    env.pop("WHATSAPP_API_VERSION", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.cli", "templates", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_a_graph_error_prints_code_and_subcode_and_exits_1(graph_fake: GraphFake) -> None:
    body = graph_error(190, "Error validating access token: Session has expired.", subcode=463)
    graph_fake.fail_next(1, status=401, body=body)
    code, stdout, stderr = await flowbot(graph_fake, "apply")
    assert code == 1
    assert stderr.strip() == (f"error 190/463: Error validating access token: Session has expired. "
                              f"(fbtrace_id {body['error']['fbtrace_id']})")
    assert TOKEN not in stdout + stderr
    assert graph_fake.requests == [("GET", "/v23.0/4455/message_templates", f"Bearer {TOKEN}")]
    assert graph_fake.templates == {}


async def test_apply_then_list_from_the_command_line(graph_fake: GraphFake) -> None:
    code, stdout, stderr = await flowbot(graph_fake, "apply")
    assert (code, stderr) == (0, "")
    lines = stdout.splitlines()
    assert [line.split(" (id")[0] for line in lines] == [
        "created   haraka_booking_reminder_v1 [en] UTILITY PENDING",
        "created   haraka_booking_reminder_v1 [sw] UTILITY PENDING",
        "created   haraka_parcel_update_v1 [en] UTILITY PENDING",
        "created   haraka_parcel_update_v1 [sw] UTILITY PENDING",
        "created   jirani_order_update_v1 [en] UTILITY PENDING",
        "created   jirani_order_update_v1 [sw] UTILITY PENDING",
        "created   jirani_payment_received_v1 [en] UTILITY PENDING",
        "created   jirani_payment_received_v1 [sw] UTILITY PENDING",
        "8 created",
    ]
    assert sorted((t["name"], t["language"]) for t in graph_fake.templates.values()) == [
        ("haraka_booking_reminder_v1", "en"), ("haraka_booking_reminder_v1", "sw"),
        ("haraka_parcel_update_v1", "en"), ("haraka_parcel_update_v1", "sw"),
        ("jirani_order_update_v1", "en"), ("jirani_order_update_v1", "sw"),
        ("jirani_payment_received_v1", "en"), ("jirani_payment_received_v1", "sw"),
    ]


def test_check_bots_over_every_bot(tmp_path: Path) -> None:
    templates, _ = load_dir(DEMO_TEMPLATES)
    assert check_bots([], templates, DEMO_TEMPLATES) == []
    assert bot_dirs(tmp_path) == []
