"""Help text as people read it, printed quickly: ``PROMPT`` in usage lines (not Typer's ``{prompt}``), and help and
usage errors in Click's plain layout, and no pydantic import for options left unset.

Typer renders required arguments as ``{name}``. With rich installed it draws help and errors with rich, whose import
(rich's console, markdown and traceback modules) costs more than the rest of the CLI's start-up together, and gives
every flag a ``<bool>`` type column, which reads like a value to type. ``install()`` adjusts both once, for every
command. Tables (``_output``) still use rich, imported by the commands that print one.
"""

from typing import Any

import typer.core
from typer._click.exceptions import MissingParameter


def _usage_name(self: typer.core.TyperArgument) -> str:
    name = self.display_name_raw.upper()
    if not self.required:
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


_process_value = typer.core._TyperParameter.process_value


def _process_unset_value(self: typer.core._TyperParameter, ctx: Any, value: Any) -> Any:
    """What Typer's coercion makes of a value not given (``None``, or ``()`` for a repeatable one), without building
    the coercion: that imports pydantic, which ``codeyard sessions --help`` and the other unset flags do not need."""
    if value is not None:
        return _process_value(self, ctx, value)
    value = () if self.multiple or self.nargs == -1 else None
    if self.required and self.value_is_missing(value):
        raise MissingParameter(ctx=ctx, param=self)
    return self.callback(ctx, self, value) if self.callback is not None else value


def install() -> None:
    typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
    # Read by Typer when it formats help or a usage error: False gives Click's formatter, as without rich.
    typer.core.HAS_RICH = False
    typer.core._TyperParameter.process_value = _process_unset_value  # type: ignore[method-assign]
