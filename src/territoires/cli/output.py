"""What every command prints to the operator: one console on stderr, one way to fail."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from territoires.shared.settings import ConfigurationError

console = Console(stderr=True)
# Exit statuses: 1 = the setup or some inputs failed, 2 = the command was given wrongly.
USAGE_ERROR = 2


def fail(message: str, code: int = 1) -> NoReturn:
    """Ends the command with a one-line message (never wrapped) and `code`."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def fails_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Setup errors end the command with their one-line message and exit status 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigurationError as error:
            fail(str(error))

    return wrapper
