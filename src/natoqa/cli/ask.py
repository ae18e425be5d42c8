"""``natoqa ask`` and ``natoqa chat``: questions to a running server."""

from __future__ import annotations

import sys

import click

from natoqa.cli.main import (
    EXIT_API_ERROR,
    main,
)
from natoqa.errors import APIError

# the options both commands take, said once
url_option = click.option(
    "--url", default="http://127.0.0.1:8000", show_default=True, help="Server."
)
k_option = click.option(
    "-k", type=click.IntRange(min=1), default=None,
    help="Passages to cite (at most the server's NATOQA_MAX_K, 20 by default).",
)
retries_option = click.option(
    "--retries", type=click.IntRange(0, 20), default=4, show_default=True,
    help="Tries again after 429/503, waiting as the server's Retry-After says.",
)

@main.command()
@click.argument("question")
@url_option
@click.option("--history", multiple=True, help="An earlier question (repeatable, oldest first).")
@k_option
@click.option("--stream", is_flag=True, help="Print the answer as it arrives.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the JSON answer (with --stream: one JSON line per event).")
@retries_option
def ask(
    question: str, url: str, history: tuple[str, ...], k: int | None, stream: bool,
    as_json: bool, retries: int,
) -> None:
    """Ask a running server a question and print the answer with its sources.

    \b
    Examples:
      natoqa ask "Was erbt Rutte von Stoltenberg?"
      natoqa ask "What is the New Force Model?" --json
      natoqa ask "Was ist das New Force Model?" --stream
      natoqa ask "Und wie groß soll sie sein?" --history "Was ist das New Force Model?"
      natoqa ask "Was erbt Rutte?" --retries 0     # fail at once when the server is busy
    """
    from natoqa.client import terminal
    from natoqa.client.client import Client

    terminal.quiet_http_logs()
    with Client(url, max_retries=retries) as client:
        if stream:
            events = client.ask_stream(question, history=list(history), k=k)
            (terminal.print_stream_json if as_json else terminal.print_stream)(events)
            return
        answer = client.ask(question, history=list(history), k=k)
    if as_json:
        click.echo(answer.model_dump_json(indent=2))
    else:
        terminal.print_answer(answer)


@main.command()
@url_option
@k_option
@click.option("--no-stream", is_flag=True, help="Print each answer when it is complete.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON answer per line, no prompt: for scripts piping questions in.")
@retries_option
def chat(url: str, k: int | None, no_stream: bool, as_json: bool, retries: int) -> None:
    """Talk with a running server: follow-up questions keep the conversation's context.

    Type a question and press Enter; the answer streams in, then its sources.
    /new starts a new conversation, /quit (or Ctrl-D) ends. Questions can also
    be piped in, one per line. A refused question is reported and the session
    goes on; the exit code is then 4.

    \b
    Examples:
      natoqa chat
      printf 'Wer folgt auf Stoltenberg?\\nWas erbt er?\\n' | natoqa chat --json
    """
    from natoqa.client import terminal
    from natoqa.client.client import Client

    terminal.quiet_http_logs()
    messages: list[tuple[str, str]] = []
    refused = 0
    interactive = sys.stdin.isatty()
    if interactive and not as_json:
        click.echo("natoqa chat — /new: new conversation, /quit: end", err=True)
    with Client(url, max_retries=retries) as client:
        for line in terminal.read_questions("» "):
            if line in ("/quit", "/exit"):
                break
            if line == "/new":
                messages.clear()
                continue
            turn = [*messages, ("user", line)]
            try:
                if as_json:
                    answer = client.chat(turn, k=k)
                    click.echo(answer.model_dump_json())
                    text = answer.answer
                elif no_stream:
                    answer = client.chat(turn, k=k)
                    terminal.print_answer(answer)
                    text = answer.answer
                else:
                    text = terminal.print_stream(client.chat_stream(turn, k=k)).text
            except APIError as exc:
                refused += 1
                click.echo(f"natoqa: error: {exc.message}", err=True)
                continue
            messages = [*turn, ("assistant", text)]
            if interactive and not as_json:
                click.echo("")
    if refused:
        sys.exit(EXIT_API_ERROR)

