"""A transcript's stubs must be results the real action could give: a stub of the wrong shape
fails the transcript, naming the turn and the action, instead of staying green on a shape the
plugin no longer has."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.testing.transcript import play

ROOT = Path(__file__).resolve().parents[2]

TRANSCRIPT = """\
transcript: stubs of the wrong shape
bot: jirani
user: "254711000199"
stubs:
  payments.checkout: {outcome: paid}
turns:
  - user: hi
  - user: add U1 2
    stub: {db.query: {data: {row: {sku: U1, name: Maize flour 2 kg, price: "210.00", currency: KES}, count: "one"}}}
  - user: add U1 2
    stub: {db.query: {error: database down}}
"""


def test_a_stub_the_action_could_not_give_fails_the_transcript(tmp_path: Path) -> None:
    for part in ("flows", "locales", "templates"):  # the bot, as a repository lays it out, above the transcript
        (tmp_path / part).mkdir()
        if (ROOT / part / "jirani").exists():
            (tmp_path / part / "jirani").symlink_to(ROOT / part / "jirani")
    path = tmp_path / "tests" / "transcripts" / "stubs.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(TRANSCRIPT)
    played = asyncio.run(play(path))
    assert played.failures == [
        "stubs: the stub of payments.checkout answered the outcome 'paid', not one it declares (ok, failed)",
        "turn 2 stub: the stub of db.query returned count of the wrong shape: 'one' is not of type 'integer'",
    ], played.failures
