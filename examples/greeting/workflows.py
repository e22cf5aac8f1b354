"""The greeting example: a class workflow that talks to the outside world while it runs.

Ported from Temporal's message-passing sample (samples-python, message_passing/introduction): a query lists
the languages, an update switches the language (its validator refuses one the workflow has no greeting for,
and a second update fetches a missing greeting with an activity), and a signal approves the greeting for
release, which ends the run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum

from mainspring import activity, workflow

#: The greeting example's own task queue.
TASK_QUEUE = "greeting-task-queue"


class Language(IntEnum):
    ARABIC = 1
    CHINESE = 2
    ENGLISH = 3
    FRENCH = 4
    HINDI = 5
    PORTUGUESE = 6
    SPANISH = 7


@dataclass
class GetLanguagesInput:
    include_unsupported: bool


@dataclass
class ApproveInput:
    name: str


#: What the "greeting service" the activity calls knows.
_SERVICE = {
    Language.ARABIC: "مرحبا بالعالم",
    Language.CHINESE: "你好，世界",  # noqa: RUF001 - the Chinese comma is meant
    Language.ENGLISH: "Hello, world",
    Language.FRENCH: "Bonjour, monde",
    Language.HINDI: "नमस्ते दुनिया",
    Language.PORTUGUESE: "Olá mundo",
    Language.SPANISH: "¡Hola mundo!",
}


@activity.defn
async def call_greeting_service(to_language: Language) -> str | None:
    await asyncio.sleep(0.05)  # a remote call, in real life
    return _SERVICE.get(to_language)


@workflow.defn(name="GreetingWorkflow")
class GreetingWorkflow:
    def __init__(self) -> None:
        self.approved_for_release = False
        self.approver_name: str | None = None
        self.greetings = {Language.CHINESE: "你好，世界", Language.ENGLISH: "Hello, world"}  # noqa: RUF001
        self.language = Language.ENGLISH
        # Two set_language_using_activity updates may run at once: one fetches at a time.
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, ctx: workflow.Context) -> str:
        await ctx.wait_condition(lambda: self.approved_for_release)
        await ctx.wait_condition(ctx.all_handlers_finished)
        return self.greetings[self.language]

    @workflow.query
    def get_languages(self, input: GetLanguagesInput) -> list[Language]:
        # A query only reads the workflow's state.
        if input.include_unsupported:
            return sorted(Language)
        return sorted(self.greetings)

    @workflow.query
    def get_language(self) -> Language:
        return self.language

    @workflow.signal
    def approve(self, input: ApproveInput) -> None:
        # A signal may change the workflow's state; its sender gets no answer back.
        self.approved_for_release = True
        self.approver_name = input.name

    @workflow.update
    def set_language(self, language: Language) -> Language:
        # An update may change the state, and answers its sender.
        previous, self.language = self.language, language
        return previous

    @set_language.validator
    def validate_language(self, language: Language) -> None:
        if language not in self.greetings:
            # Raised here, the update is rejected: nothing of it is recorded in the history.
            raise ValueError(f"{language.name} is not supported")

    @workflow.update
    async def set_language_using_activity(self, ctx: workflow.Context, language: Language) -> Language:
        # An async update may run activities (and wait on timers) before it answers.
        if language not in self.greetings:
            async with self.lock:
                greeting = await ctx.execute_activity(
                    call_greeting_service, language, start_to_close_timeout=timedelta(seconds=10)
                )
                if greeting is None:
                    raise ValueError(f"the greeting service does not support {language.name}")
                self.greetings[language] = greeting
        previous, self.language = self.language, language
        return previous
