"""The webhook delivery log: every delivery is written before it is attempted and
stays pending until the receiver answers 2xx, so a receiver that is down loses
nothing; it is retried later from this table, after a restart too. Keyed by
(receiver, key) so that enqueueing the same change twice sends it once."""

from __future__ import annotations

from dataclasses import dataclass

from store.interfaces import OpStore


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    receiver: str
    url: str
    key: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None


CLAIM_LEASE_S = 120.0  # longer than a delivery's quick retries (3 tries of 5 s at most)
_SELECT = (
    "SELECT id, receiver, url, key, payload, status, attempts, next_attempt_at, last_error"
    " FROM webhook_deliveries"
)


class WebhookLog:
    def __init__(self, ops: OpStore) -> None:
        self.ops = ops

    def enqueue(self, receiver: str, url: str, key: str, payload: str, now: float) -> bool:
        """False when this (receiver, key) is already queued or delivered."""
        with self.ops.tx() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (receiver, url, key, payload, status,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
                (receiver, url, key, payload, now, now),
            )
            return cur.rowcount > 0

    def due(self, now: float, limit: int = 100, lease_s: float = CLAIM_LEASE_S) -> list[Delivery]:
        """Claim the due deliveries for this process: their next attempt moves `lease_s`
        on, so a replica sharing the store neither sends them meanwhile nor waits for
        them (rows another one is claiming are skipped); `delivered` or `failed` then
        settles each. A process that dies holding a claim leaves it to be retried."""
        with self.ops.tx() as cur:
            rows = cur.execute(
                f"{_SELECT} WHERE status = 'pending' AND next_attempt_at <= ?"
                f" ORDER BY next_attempt_at, id LIMIT ?{self.ops.claim_clause}",
                (now, limit),
            ).fetchall()
            for row in rows:
                cur.execute(
                    "UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?",
                    (now + lease_s, row[0]),
                )
        return [Delivery(*r) for r in rows]

    def delivered(self, delivery_id: int, now: float) -> None:
        with self.ops.tx() as cur:
            cur.execute(
                "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = ?,"
                " attempts = attempts + 1, last_error = NULL WHERE id = ?",
                (now, delivery_id),
            )

    def failed(self, delivery_id: int, error: str, retry_at: float) -> None:
        with self.ops.tx() as cur:
            cur.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = ? WHERE id = ?",
                (error[:500], retry_at, delivery_id),
            )

    def all(self, limit: int = 1000) -> list[Delivery]:
        with self.ops.read() as cur:
            rows = cur.execute(f"{_SELECT} ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [Delivery(*r) for r in rows]
