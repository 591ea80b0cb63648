"""Help text in the conventions command-line users know (click's): `INTEGER`, not `<int>`.

The installed Typer prints Python annotations as types (`<bool>` on flags, `<list[str]>`) and
required arguments as `{version}`. These two overrides restore click's display; they touch
presentation only, never parsing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

from typer import core

HELP_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "show_default": True}


_NAMES = {int: "INTEGER", str: "TEXT", float: "FLOAT", bool: "BOOLEAN", Path: "PATH"}


def _display_type(self: Any, ctx: Any) -> str | None:
    if getattr(self, "is_flag", False) or getattr(self, "count", False):
        return None  # a flag takes no value: nothing to show
    desc = self.type_descriptor
    if desc.is_choice:
        return "[" + "|".join(str(choice) for choice in desc.choices or ()) + "]"
    if desc.is_datetime:
        return "DATETIME"
    annotation = desc.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    if desc.is_path:
        return "PATH"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)).upper())


def _usage_display_name(self: Any) -> str:
    name = str(self.metavar or self.name).upper()
    name = name if self.required else f"[{name}]"
    return name + "..." if self.nargs != 1 else name


def use_click_style() -> None:
    """Install the overrides (idempotent)."""
    core._TyperParameter.display_type = _display_type  # type: ignore[method-assign,assignment]
    core.TyperArgument._usage_display_name = _usage_display_name  # type: ignore[method-assign]
