"""The encryption example's workflow and activity (shared by worker.py and starter.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from mainspring import activity, workflow

TASK_QUEUE = "encryption-task-queue"


@dataclass
class Order:
    customer: str
    card_number: str


@activity.defn(name="encryption_charge")
async def charge(order: Order) -> str:
    # What an activity returns is encrypted too: the receipt names the card.
    return f"charged card {order.card_number} of {order.customer}"


@workflow.defn(name="EncryptedOrder")
class EncryptedOrder:
    """Charges the card of an order, then waits for a note (a signal) and returns the receipt with it."""

    def __init__(self) -> None:
        self.receipt = ""
        self.note: str | None = None

    @workflow.run
    async def run(self, ctx: workflow.Context, order: Order) -> str:
        self.receipt = await ctx.execute_activity(charge, order, start_to_close_timeout=timedelta(seconds=10))
        await ctx.wait_condition(lambda: self.note is not None)
        return f"{self.receipt}; note: {self.note}"

    @workflow.signal
    def add_note(self, note: str) -> None:
        self.note = note

    @workflow.query
    def current_receipt(self) -> str:
        return self.receipt
