"""Talk to a running greeting workflow: `python examples/greeting/starter.py [--workflow-id greeting-1]`.

It starts the workflow, asks it which languages it supports (a query), switches its language (updates: one
its validator rejects, one it answers, one that runs an activity first), approves it (a signal), and prints
its result.
"""

from __future__ import annotations

import argparse
import asyncio

from workflows import TASK_QUEUE, ApproveInput, GetLanguagesInput, GreetingWorkflow, Language

from mainspring import Client
from mainspring.client import WorkflowUpdateStage
from mainspring.errors import WorkflowUpdateFailedError


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--address", default=None, help="server address (default: $MAINSPRING_ADDRESS or localhost:7233)"
    )
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    parser.add_argument("--workflow-id", default="greeting-1")
    args = parser.parse_args()
    async with await Client.connect(args.address, namespace=args.namespace) as client:
        handle = await client.start_workflow(GreetingWorkflow.run, id=args.workflow_id, task_queue=args.task_queue)

        supported = await handle.query(GreetingWorkflow.get_languages, GetLanguagesInput(include_unsupported=False))
        print(f"supported languages: {', '.join(lang.name for lang in supported)}")

        previous = await handle.execute_update(GreetingWorkflow.set_language, Language.CHINESE)
        print(f"language changed: {previous.name} -> {Language.CHINESE.name}")
        try:
            await handle.execute_update(GreetingWorkflow.set_language, Language.ARABIC)
        except WorkflowUpdateFailedError as e:
            print(f"update rejected: {e.cause.message if e.cause else e}")

        # Start the update, get on with other work once the workflow has accepted it, then wait for its result.
        update = await handle.start_update(
            GreetingWorkflow.set_language_using_activity, Language.ARABIC, wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        previous = await update.result()
        print(f"language changed: {previous.name} -> {Language.ARABIC.name}")

        await handle.signal(GreetingWorkflow.approve, ApproveInput(name="me"))
        print(f"greeting: {await handle.result()}")


if __name__ == "__main__":
    asyncio.run(main())
