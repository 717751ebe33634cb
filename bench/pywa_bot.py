"""bench/bots/shop written with pywa (async): the same menu, question and answer, state in memory.

What a small pywa bot usually is: pywa's own Starlette webhook (signature checked with the app
secret, 200 answered at once, the handlers run in a background task), replies sent with pywa's
httpx client. No durability (a restart forgets every conversation and any reply not yet sent),
no per-user order (two quick messages run concurrently), no delivery record.

pywa 4.x has no setting for the Graph base URL: it sets `base_url` on its httpx client to
https://graph.facebook.com/v<version> when the client is made, so the benchmark points it at the
Graph fake by resetting that `base_url` afterwards (`httpx.AsyncClient.base_url` is settable).

    GRAPH_URL=http://127.0.0.1:8090 APP_SECRET=... python bench/pywa_bot.py --port 8000
"""

from __future__ import annotations

import argparse
import logging
import os
import re

import uvicorn
from pywa_async import WhatsApp, filters, types

SECRET = os.environ.get("APP_SECRET", "bench-app-secret")
VERIFY_TOKEN = os.environ.get("VERIFY_TOKEN", "bench-verify")
GRAPH = os.environ.get("GRAPH_URL", "http://127.0.0.1:8090").rstrip("/")
NUMBER = os.environ.get("PHONE_NUMBER_ID", "1122334455667")
TOKEN = os.environ.get("TOKEN", "bench-token")
API_VERSION = "23.0"

MENU = "Karibu Duka! 🛒 What can we do for you?"
BUTTONS = [types.Button(title="Order status", callback_data="status"),
           types.Button(title="Browse products", callback_data="browse"),
           types.Button(title="Talk to us", callback_data="talk")]
ASK_ORDER = "What is your order number? It looks like A1234."
BAD_ORDER = "That doesn't look like an order number. It looks like A1234."
ORDER = re.compile(r"(?i)a[0-9]{3,8}")

wa = WhatsApp(phone_id=NUMBER, token=TOKEN, verify_token=VERIFY_TOKEN, app_secret=SECRET,
              webhook_endpoint="/webhooks/whatsapp", api_version=API_VERSION, validate_updates=True)
wa.api._session.base_url = f"{GRAPH}/v{API_VERSION}"  # see the module docstring

state: dict[str, str] = {}  # user -> where the conversation is (in memory: lost on restart)


@wa.on_message(filters.text)
async def on_text(client: WhatsApp, msg: types.Message) -> None:
    user = msg.from_user.wa_id
    if state.get(user) == "ask_order":
        text = msg.text.strip()
        if ORDER.fullmatch(text):
            del state[user]
            await client.send_message(to=user, text=f"Order {text.upper()} is packed and leaves our store today. 📦")
        else:
            await client.send_message(to=user, text=BAD_ORDER)
        return
    state[user] = "menu"
    await client.send_message(to=user, text=MENU, buttons=BUTTONS)


@wa.on_callback_button()
async def on_button(client: WhatsApp, btn: types.CallbackButton) -> None:
    user = btn.from_user.wa_id
    if btn.data == "status":
        state[user] = "ask_order"
        await client.send_message(to=user, text=ASK_ORDER)
    elif btn.data == "browse":
        state.pop(user, None)
        await client.send_message(to=user, text="Our catalogue: https://duka.example.com/catalogue")
    else:
        state.pop(user, None)
        await client.send_message(to=user, text="Someone from our team will answer you here shortly.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    os.environ["PYWA_LOG_LEVEL"] = "warning"
    app = wa._setup_and_get_starlette_app()  # what `pywa run` serves (pywa's own ASGI factory)
    logging.getLogger("pywa").setLevel(logging.WARNING)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, log_config=None)
