"""Help text as people read it: ``PROMPT`` in usage lines (not Typer's ``{prompt}``) and no ``<bool>`` after flags.

Typer renders required arguments as ``{name}`` and gives every flag a ``<bool>`` type column, which reads like a
value to type. ``install()`` adjusts those two renderings once, for every command.
"""

from typing import Any

import typer.core


def _usage_name(self: typer.core.TyperArgument) -> str:
    name = self.display_name_raw.upper()
    if not self.required:
        name = f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


_option_type = typer.core.TyperOption.display_type_rich


def _option_type_unless_flag(self: typer.core.TyperOption, ctx: Any) -> Any:
    return None if self.is_flag else _option_type(self, ctx)


def install() -> None:
    typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
    typer.core.TyperOption.display_type_rich = _option_type_unless_flag  # type: ignore[method-assign]
