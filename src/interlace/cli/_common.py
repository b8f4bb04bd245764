"""What every command shares: the exit codes and how an interlace error ends a command.

Exit codes (the same for every command, shown in every ``--help``):

- 0: success.
- 1: the run or its data failed: a backend, a download, a tool source, a store that is not
  one, a run that produced no answer (every :class:`~interlace.InterlaceError` except
  :class:`~interlace.UsageError`).
- 2: command-line misuse: an unknown option value, benchmark, dataset, model or method
  (typer's own errors, and :class:`~interlace.UsageError`).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from interlace._errors import InterlaceError, UsageError

#: Appended to every command's ``--help`` (markdown: one paragraph per line).
EXIT_CODES = (
    "Exit codes: 0 success; 1 the run or its data failed (backend, download, tool source, "
    "store, no answer); 2 command-line misuse (bad option, unknown name)."
)

OK, FAILED, MISUSE = 0, 1, 2


def exit_code(exc: InterlaceError) -> int:
    """2 for a :class:`~interlace.UsageError` (the command line must change), else 1."""
    return MISUSE if isinstance(exc, UsageError) else FAILED


def fail(exc: InterlaceError) -> typer.Exit:
    """Print ``exc`` to standard error and return the :class:`typer.Exit` to raise.

    Usage: ``except InterlaceError as exc: raise fail(exc) from exc``.
    """
    Console(stderr=True).print("[red]error:[/red]", escape(str(exc)), soft_wrap=True)
    return typer.Exit(code=exit_code(exc))


def add_exit_codes(app: typer.Typer) -> None:
    """Append :data:`EXIT_CODES` to the epilog of every command of ``app`` and its groups."""
    for command in app.registered_commands:
        command.epilog = f"{command.epilog}\n\n{EXIT_CODES}" if command.epilog else EXIT_CODES
    for group in app.registered_groups:
        if group.typer_instance is not None:
            add_exit_codes(group.typer_instance)
