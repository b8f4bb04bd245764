"""The live view of ``interlace run``: a run's event stream rendered with rich.

One block per LLM request: a rule naming its role, its text as it streams, a line with its
tokens and seconds. Tool lines (``▶`` started, ``✓`` succeeded, ``✗`` failed) are printed
between whole lines of text, never inside one: text is printed a line at a time. Requests
that stream while another one holds the screen (the math tool's, while the planner streams)
are kept and printed as a whole block when the screen is free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from interlace._clock import now
from interlace._events import (
    Event,
    LLMEnd,
    LLMStart,
    LLMText,
    Replan,
    TaskFinished,
    TaskStarted,
)
from interlace._scheduler import Failed, Succeeded, describe
from interlace._tools import safe_str


@dataclass
class _Request:
    role: str
    pending: str = ""  # text not printed yet (at most a partial line while on screen)
    end: LLMEnd | None = None


@dataclass
class LiveView:
    """Renders events on ``console`` (call :meth:`show` with each event, in order).

    Attributes:
        console: where to print.
        origin: monotonic seconds that tool start times are shown relative to.
    """

    console: Console
    origin: float = field(default_factory=now)
    _requests: dict[int, _Request] = field(default_factory=dict)
    _screen: int | None = None  # the request whose text is being printed
    _calls: dict[int | None, str] = field(default_factory=dict)

    def show(self, event: Event) -> None:
        """Print what ``event`` adds to the view."""
        if isinstance(event, LLMStart):
            self._requests[event.request] = _Request(role=event.role)
            if self._screen is None:
                self._take(event.request)
        elif isinstance(event, LLMText):
            request = self._requests.setdefault(event.request, _Request(role=event.role))
            request.pending += event.text
            if event.request == self._screen:
                self._print_lines(request)
        elif isinstance(event, LLMEnd):
            request = self._requests.setdefault(event.request, _Request(role=event.role))
            request.end = event
            if event.request == self._screen:
                self._close(event.request)
        elif isinstance(event, TaskStarted):
            self._calls[event.task_id] = event.call
            at = event.time - self.origin
            self._line(f"   ▶ {event.call} at +{at:.2f}s", "cyan")
        elif isinstance(event, TaskFinished):
            self._finished(event)
        elif isinstance(event, Replan):
            self._line(f"   ↻ replan: {event.thought}", "yellow")

    def _take(self, request_id: int) -> None:
        self._screen = request_id
        request = self._requests[request_id]
        self.console.print(Text(f"── {request.role} ──", style="bold"))
        self._print_lines(request)
        if request.end is not None:
            self._close(request_id)

    def _print_lines(self, request: _Request) -> None:
        head, newline, rest = request.pending.rpartition("\n")
        if newline:
            for line in head.split("\n"):
                self.console.print(Text(line), soft_wrap=True)
            request.pending = rest

    def _close(self, request_id: int) -> None:
        request = self._requests.pop(request_id)
        if request.pending:
            self.console.print(Text(request.pending), soft_wrap=True)
        assert request.end is not None
        completion = request.end.completion
        usage = completion.usage
        footer = (
            f"   [{usage.prompt_tokens} in / {usage.completion_tokens} out tokens, "
            f"{completion.timing.total:.2f}s]"
        )
        self._line(footer, "dim")
        self._screen = None
        waiting = sorted(self._requests, key=lambda i: self._requests[i].end is None)
        if waiting:  # finished ones first, then the oldest still streaming
            self._take(waiting[0])

    def _finished(self, event: TaskFinished) -> None:
        call = self._calls.pop(event.task_id, event.tool)
        took = event.end - event.start
        outcome = event.outcome
        if isinstance(outcome, Succeeded):
            self._line(f"   ✓ {call} ({took:.2f}s): {safe_str(outcome.value)[:160]}", "green")
        elif isinstance(outcome, Failed) or outcome is not None:
            self._line(f"   ✗ {call} ({took:.2f}s): {describe(outcome)}", "red")
        elif event.status == "succeeded":
            self._line(f"   ✓ {call} ({took:.2f}s)", "green")
        else:
            self._line(f"   ✗ {call} ({took:.2f}s): {event.status}", "red")

    def _line(self, text: str, style: str) -> None:
        self.console.print(Text(text, style=style), soft_wrap=True)
