"""The ``natoqa`` command line: one module per command group, registered on :func:`main`.

Exit codes: 0 success; 1 the command failed (message on stderr); 2 usage error;
3 the server cannot be reached; 4 the server answered with an error (for
``natoqa chat``: at least one question was refused; the session goes on);
130 interrupted (Ctrl-C).
"""

from natoqa.cli import ask, build, docs, index, info, inspect, model, serve
from natoqa.cli.eval import eval_command
from natoqa.cli.main import main

main.add_command(eval_command)

__all__ = ["ask", "build", "docs", "index", "info", "inspect", "main", "model", "serve"]
