"""A workflow the reset tests share (``test_reset_reapply``, ``test_write_faults``), run by in-process workers: a
cart that takes items by update, each stamped by an activity (the handler's side effect, counted in ``CALLS``),
until it is told to finish."""

from __future__ import annotations

from datetime import timedelta

from mainspring import activity, workflow

#: How many times the stamp activity ran for each item (the in-process worker runs it in the test's process).
CALLS: dict[str, int] = {}


@activity.defn(name="CartStamp")
async def stamp(item: str) -> str:
    CALLS[item] = CALLS.get(item, 0) + 1
    return f"{item}#{CALLS[item]}"


@workflow.defn(name="Cart")
class Cart:
    """Returns the stamped items, once told to finish and every update handler is done."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.update
    async def add(self, ctx: workflow.Context, item: str) -> str:
        stamped = await ctx.execute_activity(stamp, item, start_to_close_timeout=timedelta(minutes=1))
        self.items.append(stamped)
        return stamped

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self, ctx: workflow.Context, _: None) -> list[str]:
        await ctx.wait_condition(lambda: self.done)
        await ctx.wait_condition(ctx.all_handlers_finished)
        return self.items
