"""Jirani, the WhatsApp shop: what its flows cannot say in YAML.

Pure functions of their arguments (no I/O, no clock): the catalog, orders and deliveries are
PostgreSQL tables the flows reach through the `db` plugin (flows/jirani/queries.sql), payments
go through the `payments` plugin. Here:

- `jirani.command(text)`: what a typed command means (`ADD A12 2`, `remove a12`, `TRACK
  JR-7K2Q9`, `kikapu`, ...): the outcome is the command, the data its arguments. English and
  Swahili words; a product code is upper-cased; a bad quantity is outcome `bad_qty`.
- `jirani.cart_add`, `jirani.cart_remove`, `jirani.cart_clear`: the cart, kept in the session
  (one per chat), as `{items: [{sku, name, price, currency, qty, line}], count, total, currency}`.
  Prices in the cart are what the user was shown; the order's total is computed again from the
  catalog when the order is placed.
- `jirani.new_order(cart)`: the order reference and the lines to place (`skus`, `qtys`). The
  reference comes from the step's idempotency key, so a retried turn places the same order.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.runtime.actions import Action, ActionContext, ActionResult

MAX_QTY = 99  # per line, and what one ADD may ask for
MAX_LINES = 20
_SKU = re.compile(r"^[A-Z0-9-]{1,32}$")
_REF = re.compile(r"^[A-Z0-9-]{3,64}$")
_REF_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud over the phone

# The words of each command, in every language of the bot (compared upper-cased).
WORDS: dict[str, tuple[str, ...]] = {
    "browse": ("BROWSE", "SHOP", "CATALOG", "CATALOGUE", "PRODUCTS", "DUKA", "BIDHAA", "ANGALIA"),
    "add": ("ADD", "BUY", "ONGEZA", "NUNUA"),
    "remove": ("REMOVE", "DELETE", "ONDOA"),
    "cart": ("CART", "BASKET", "KIKAPU"),
    "clear": ("CLEAR", "EMPTY", "SAFISHA"),
    "checkout": ("CHECKOUT", "PAY", "LIPA"),
    "status": ("STATUS", "ORDERS", "HALI", "ODA"),
    "track": ("TRACK", "FUATILIA"),
}
_COMMAND = {word: name for name, words in WORDS.items() for word in words}


def _result(outcome: str, **data: Any) -> ActionResult:
    return ActionResult(outcome=outcome, data=data)


async def command(ctx: ActionContext, text: str) -> ActionResult:
    """`ADD A12 2` → outcome add, {sku: A12, qty: 2}; unknown words → outcome unknown."""
    said = " ".join(str(text or "").replace(",", " ").split())
    words = said.upper().split()
    if not words:
        return _result("unknown", word="")
    name = _COMMAND.get(words[0])
    if name is None:
        return _result("unknown", word=said[:40])
    args = words[1:]
    if name == "add":
        if not args or not _SKU.match(args[0]):
            return _result("add_usage")
        qty = args[1] if len(args) > 1 else "1"
        if len(args) > 2 or not qty.isdigit() or not 1 <= int(qty) <= MAX_QTY:
            return _result("bad_qty", sku=args[0], given=" ".join(said.split()[2:])[:20], max=MAX_QTY)
        return _result("add", sku=args[0], qty=int(qty))
    if name == "remove":
        if len(args) != 1 or not _SKU.match(args[0]):
            return _result("remove_usage")
        return _result("remove", sku=args[0])
    if name == "track":
        if len(args) != 1 or not _REF.match(args[0]):
            return _result("track_usage")
        return _result("track", ref=args[0])
    return _result(name)


def _cart(value: Any) -> list[dict[str, Any]]:
    items = value.get("items") if isinstance(value, dict) else None
    return [dict(i) for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _summary(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    for item in items:
        item["line"] = f"{Decimal(str(item['price'])) * int(item['qty']):.2f}"
    total = sum((Decimal(i["line"]) for i in items), Decimal(0))
    currency = items[0]["currency"] if items else ""
    return {"items": items, "count": sum(int(i["qty"]) for i in items), "total": f"{total:.2f}",
            "currency": currency, **extra}


async def cart_add(ctx: ActionContext, cart: Any, product: dict[str, Any], qty: int) -> ActionResult:
    """Put `qty` of `product` (a catalog row: sku, name, price, currency) in the cart.
    Outcome `too_many` when the line would pass MAX_QTY or the cart MAX_LINES (cart unchanged),
    `other_currency` when the product is priced in another currency than the cart."""
    items = _cart(cart)
    try:
        price = Decimal(str(product["price"]))
    except (KeyError, InvalidOperation) as exc:
        raise ValueError(f"not a product row: {product!r}") from exc
    line = next((i for i in items if i["sku"] == product["sku"]), None)
    if items and items[0]["currency"] != product["currency"]:
        return _result("other_currency", **_summary(items))
    if (line is None and len(items) >= MAX_LINES) or (line["qty"] if line else 0) + qty > MAX_QTY:
        return _result("too_many", **_summary(items, max=MAX_QTY))
    if line is None:
        items.append({"sku": product["sku"], "name": product["name"], "price": f"{price:.2f}",
                      "currency": product["currency"], "qty": qty})
    else:
        line["qty"] += qty
    return _result("ok", **_summary(items, added={"sku": product["sku"], "name": product["name"], "qty": qty}))


async def cart_remove(ctx: ActionContext, cart: Any, sku: str) -> ActionResult:
    """Take a product's line out of the cart; outcome `missing` when it is not in it."""
    items = _cart(cart)
    kept = [i for i in items if i["sku"] != sku]
    if len(kept) == len(items):
        return _result("missing", **_summary(items))
    removed = next(i for i in items if i["sku"] == sku)
    return _result("ok", **_summary(kept, removed={"sku": sku, "name": removed["name"]}))


async def cart_clear(ctx: ActionContext, cart: Any) -> ActionResult:
    return _result("ok", **_summary([]))


def order_ref(idempotency_key: str) -> str:
    """JR- and 7 characters from the key: short enough to type into TRACK, the same on a retry."""
    number = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:8], "big")
    chars = []
    for _ in range(7):
        number, digit = divmod(number, len(_REF_ALPHABET))
        chars.append(_REF_ALPHABET[digit])
    return "JR-" + "".join(chars)


async def new_order(ctx: ActionContext, cart: Any) -> ActionResult:
    """The order to place from the cart: outcome `empty` when there is nothing in it."""
    items = _cart(cart)
    if not items:
        return _result("empty")
    return _result("ok", order_ref=order_ref(ctx.idempotency_key), skus=[i["sku"] for i in items],
                   qtys=[int(i["qty"]) for i in items])


_CART = {"type": ["object", "null"], "description": "the cart slot (slots.cart)"}
_CART_RESULT = {"items": {"type": "array"}, "count": {"type": "integer"}, "total": {"type": "string"},
                "currency": {"type": "string"}}

ACTIONS = [
    Action(
        name="jirani.command",
        fn=command,
        args={"text": {"type": "string", "description": "what the user typed"}},
        result={"sku": {"type": "string"}, "qty": {"type": "integer"}, "ref": {"type": "string"},
                "word": {"type": "string"}, "given": {"type": "string"}, "max": {"type": "integer"}},
        outcomes=("browse", "add", "remove", "cart", "clear", "checkout", "status", "track", "unknown",
                  "add_usage", "remove_usage", "track_usage", "bad_qty"),
        description="What a typed shop command means (ADD A12 2, REMOVE A12, CART, TRACK JR-...).",
    ),
    Action(
        name="jirani.cart_add",
        fn=cart_add,
        args={"cart": _CART, "product": {"type": "object", "description": "a catalog row"},
              "qty": {"type": "integer", "minimum": 1, "maximum": MAX_QTY}},
        result={**_CART_RESULT, "added": {"type": "object"}},
        outcomes=("ok", "too_many", "other_currency"),
        description="Put a product in the cart.",
    ),
    Action(
        name="jirani.cart_remove",
        fn=cart_remove,
        args={"cart": _CART, "sku": {"type": "string"}},
        result={**_CART_RESULT, "removed": {"type": "object"}},
        outcomes=("ok", "missing"),
        description="Take a product out of the cart.",
    ),
    Action(name="jirani.cart_clear", fn=cart_clear, args={"cart": _CART}, result=_CART_RESULT,
           description="Empty the cart."),
    Action(
        name="jirani.new_order",
        fn=new_order,
        args={"cart": _CART},
        result={"order_ref": {"type": "string"}, "skus": {"type": "array"}, "qtys": {"type": "array"}},
        outcomes=("ok", "empty"),
        description="The order reference and lines to place from the cart.",
    ),
]
