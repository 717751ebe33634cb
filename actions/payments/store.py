"""The payments tables (engine/store/migrations/0002_payments.sql): orders, transactions, ledger.

Every statement is a constant with placeholders. `services["db"]` (a PostgresStore or a psycopg
AsyncConnectionPool in autocommit mode) gives the connections; what must be atomic runs in one
explicit transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg.rows import dict_row

from engine.store.postgres import _audit, _clean


class PaymentsDbMissing(RuntimeError):
    pass


def pool_of(db: Any) -> Any:
    """The connection pool behind `db` (a PostgresStore carries one in `.pool`)."""
    if db is None:
        raise PaymentsDbMissing(
            "the payments plugin needs PostgreSQL: the host injects it as services['db'] (flowbot worker and "
            "flowbot serve do when DATABASE_URL is set; run `flowbot migrate` first)")
    pool = getattr(db, "pool", db)
    if not callable(getattr(pool, "connection", None)):
        raise PaymentsDbMissing(f"services['db'] is a {type(db).__name__}, not a PostgresStore or an AsyncConnectionPool")
    return pool


def tx_ref_for(idempotency_key: str) -> str:
    """Our reference for the charge a step makes: the same for a retried turn, so the retry finds
    its transaction instead of charging again. Only [a-z0-9-], which every provider accepts."""
    return "fb-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Transaction:
    id: int
    bot: str
    user_id: str
    order_ref: str
    tx_ref: str
    provider: str
    provider_tx_id: str | None
    amount: Decimal
    currency: str
    status: str
    payment_link: str | None
    method: str
    idempotency_key: str

    @property
    def called(self) -> bool:
        """Whether the provider has already answered for it (a retry must not charge again)."""
        return self.status != "pending" or bool(self.payment_link) or bool(self.provider_tx_id)


_COLUMNS = ("id, bot, user_id, order_ref, tx_ref, provider, provider_tx_id, amount, currency, status, "
            "payment_link, method, idempotency_key")
_BY_KEY = "SELECT " + _COLUMNS + " FROM transactions WHERE idempotency_key = %s"
_BY_REF = "SELECT " + _COLUMNS + " FROM transactions WHERE tx_ref = %s"


def _tx(row: dict[str, Any] | None) -> Transaction | None:
    return Transaction(**row) if row else None


async def by_key(pool: Any, idempotency_key: str) -> Transaction | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_BY_KEY, (idempotency_key,))
        return _tx(await cur.fetchone())


async def by_tx_ref(pool: Any, tx_ref: str) -> Transaction | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_BY_REF, _clean((tx_ref,)))
        return _tx(await cur.fetchone())


class OrderMismatch(Exception):
    """The order exists and cannot be paid with this charge (another user, amount or currency, or
    not pending any more)."""


async def open_transaction(pool: Any, *, bot: str, user: str, order_ref: str, amount: Decimal, currency: str,
                           method: str, tx_ref: str, idempotency_key: str) -> Transaction:
    """The order (created pending if new, else checked) and a pending transaction for it, in one
    database transaction. Returns the transaction this idempotency key already has, if any."""
    async with pool.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_BY_KEY, (idempotency_key,))
        found = await cur.fetchone()
        if found:
            return Transaction(**found)
        await cur.execute(
            "INSERT INTO orders (bot, user_id, order_ref, total, currency) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (bot, order_ref) DO NOTHING", _clean((bot, user, order_ref, amount, currency)))
        await cur.execute("SELECT user_id, status, total, currency FROM orders WHERE bot = %s AND order_ref = %s"
                          " FOR UPDATE", _clean((bot, order_ref)))
        order = await cur.fetchone()
        assert order is not None
        if order["user_id"] != user:
            raise OrderMismatch("the order belongs to another user")
        if order["status"] != "pending":
            raise OrderMismatch(f"the order is {order['status']}, not pending")
        if order["currency"] != currency or order["total"] != amount:
            raise OrderMismatch(f"the order is for {order['currency']} {order['total']}, not {currency} {amount}")
        await cur.execute(
            "INSERT INTO transactions (bot, user_id, order_ref, tx_ref, amount, currency, method, idempotency_key)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING " + _COLUMNS,
            _clean((bot, user, order_ref, tx_ref, amount, currency, method, idempotency_key)))
        row = await cur.fetchone()
        if row is None:  # another process took this key at the same moment
            await cur.execute(_BY_KEY, (idempotency_key,))
            row = await cur.fetchone()
        assert row is not None
        return Transaction(**row)


async def provider_answered(pool: Any, tx_ref: str, *, link: str | None, provider_tx_id: str | None) -> None:
    async with pool.connection() as conn:
        await conn.execute("UPDATE transactions SET payment_link = coalesce(%s, payment_link),"
                           " provider_tx_id = coalesce(%s, provider_tx_id), updated_at = now()"
                           " WHERE tx_ref = %s", _clean((link, provider_tx_id, tx_ref)))


async def provider_refused(pool: Any, tx_ref: str, reason: str) -> None:
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("UPDATE transactions SET status = 'failed', updated_at = now()"
                                 " WHERE tx_ref = %s AND status = 'pending'", (tx_ref,))
        if cur.rowcount:
            await _audit(conn, "flutterwave", "payment.refused", f"tx:{tx_ref}", {"reason": reason[:500]})


@dataclass(frozen=True, slots=True)
class Settled:
    transaction: Transaction
    order_updated: bool


async def settle(pool: Any, tx: Transaction, *, provider_tx_id: str | None, received: Decimal,
                 details: dict[str, Any]) -> Settled | None:
    """Record a verified payment, once: the transaction successful, its order processing (if still
    pending), a charge in the ledger and an audit entry, all in one database transaction. None
    when the transaction was not pending any more (a redelivered webhook: nothing changes)."""
    async with pool.connection() as conn, conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "UPDATE transactions SET status = 'successful', provider_tx_id = coalesce(%s, provider_tx_id),"
            " updated_at = now() WHERE tx_ref = %s AND status = 'pending' RETURNING " + _COLUMNS,
            _clean((provider_tx_id, tx.tx_ref)))
        row = await cur.fetchone()
        if row is None:
            return None
        done = Transaction(**row)
        await cur.execute("UPDATE orders SET status = 'processing', updated_at = now()"
                          " WHERE bot = %s AND order_ref = %s AND status = 'pending'", (done.bot, done.order_ref))
        order_updated = cur.rowcount == 1
        await cur.execute("INSERT INTO ledger_entries (tx_ref, kind, amount, currency) VALUES (%s, 'charge', %s, %s)",
                          (done.tx_ref, received, done.currency))
        await _audit(conn, "flutterwave", "payment.successful", f"tx:{done.tx_ref}",
                     {**details, "bot": done.bot, "order_ref": done.order_ref, "amount": str(received),
                      "currency": done.currency, "order_updated": order_updated})
        return Settled(done, order_updated)


async def audit(pool: Any, action: str, tx_ref: str, details: dict[str, Any]) -> None:
    async with pool.connection() as conn:
        await _audit(conn, "flutterwave", action, f"tx:{tx_ref}", details)
