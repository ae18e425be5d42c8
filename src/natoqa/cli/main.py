"""The ``natoqa`` group: settings, logging, and one line instead of a traceback for natoqa's errors.

Exit codes: 0 success; 1 the command failed (message on stderr); 2 usage error;
3 the server cannot be reached; 4 the server answered with an error (for
``natoqa chat``: at least one question was refused; the session goes on);
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, NoReturn

import click

from natoqa.config import Settings, load_settings
from natoqa.errors import APIError, ConnectError, NatoqaError

EXIT_FAILED = 1
EXIT_UNREACHABLE = 3
EXIT_API_ERROR = 4
EXIT_INTERRUPTED = 130


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"natoqa: error: {message}", err=True)
    sys.exit(code)


def settings_of(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


class _Group(click.Group):
    """Turns natoqa's own errors into one line and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConnectError as exc:
            fail(exc.message, EXIT_UNREACHABLE)
        except APIError as exc:
            fail(exc.message, EXIT_API_ERROR)
        except NatoqaError as exc:
            fail(exc.message)
        except KeyboardInterrupt:
            click.echo("", err=True)
            sys.exit(EXIT_INTERRUPTED)


@click.group(cls=_Group)
@click.version_option(package_name="natoqa")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """natoqa: answers questions about the future of NATO, citing its sources.

    \b
    Examples:
      natoqa build                       # index corpus/ into index/
      natoqa serve --port 8000           # run the API and the widget
      natoqa ask "Was erbt Rutte von Stoltenberg?"
    """
    try:
        ctx.obj = load_settings()
    except NatoqaError as exc:
        fail(exc.message, 2)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # 12 lines of CPU probing


