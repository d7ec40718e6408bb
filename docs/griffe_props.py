"""A griffe extension for the API reference: the project's docstring sections as tables.

The constructs document their props in the class docstring, grouped under headings of their own
(``Table (...):``, ``Function:``, ``API:``, ``Deployment:``, ...) besides ``Args:`` and
``Attributes:``, and an item may name several props at once (``code / handler: ...``). Griffe's
Google parser knows only the standard headings and one name per item, so this extension rewrites
every such section, before parsing, into a bold title and a Markdown table of names and
descriptions (the descriptions state the real defaults). Sections that are not lists of
``name: description`` items (e.g. ``What it makes:`` bullet lists) keep their content under a
bold title. Only the rendered reference changes; the source is read as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from griffe import Class, Extension, Function, Object

_TITLES = {"Args": "Props", "Arguments": "Props", "Parameters": "Props"}
_ITEM = re.compile(r"^(?P<names>[^\s*\-][^:]*?):\s+(?P<description>\S.*)$")
_IDENTIFIER = re.compile(r"(?<![`\w])([A-Za-z_][A-Za-z0-9_]*)(?![`\w])")
_DOUBLE_BACKTICKS = re.compile(r"``([^`]+)``")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blocks(lines: list[str]) -> Iterable[tuple[str | None, list[str]]]:
    """Split a docstring into (section title or None, lines) in order."""
    index = 0
    text: list[str] = []
    while index < len(lines):
        line = lines[index]
        following = next((later for later in lines[index + 1 :] if later.strip()), "")
        if line.strip() and _indent(line) == 0 and line.rstrip().endswith(":") and _indent(following) > 0:
            if text:
                yield None, text
                text = []
            body = []
            index += 1
            while index < len(lines):
                upcoming = next((later for later in lines[index:] if later.strip()), "")
                if not upcoming or _indent(upcoming) == 0:
                    break
                body.append(lines[index])
                index += 1
            yield line.rstrip()[:-1], body
            continue
        text.append(line)
        index += 1
    if text:
        yield None, text


def _dedent(lines: list[str]) -> list[str]:
    depth = min((_indent(line) for line in lines if line.strip()), default=0)
    return [line[depth:] for line in lines]


def _items(lines: list[str]) -> list[tuple[str, str]] | None:
    """``name: description`` items (continuations indented), or None if the block is not a list of them."""
    items: list[tuple[str, str]] = []
    pending_names = ""
    for line in _dedent(lines):
        if not line.strip():
            continue
        if _indent(line) > 0:
            if not items or pending_names:
                return None
            names, description = items[-1]
            items[-1] = (names, f"{description} {line.strip()}")
            continue
        if line.rstrip().endswith(",") and ":" not in line:
            pending_names += line.strip() + " "
            continue
        match = _ITEM.match(pending_names + line.strip())
        if match is None:
            return None
        pending_names = ""
        items.append((match["names"].strip(), match["description"].strip()))
    return items or None


def _names_cell(names: str, known: set[str]) -> str:
    names = _DOUBLE_BACKTICKS.sub(r"`\1`", names)
    outside_code = names.split("`")
    for position in range(0, len(outside_code), 2):  # even parts are outside code spans
        outside_code[position] = _IDENTIFIER.sub(
            lambda word: f"`{word[1]}`" if word[1] in known or "_" in word[1] else word[1], outside_code[position]
        )
    return "`".join(outside_code)


def _cell(text: str) -> str:
    return _DOUBLE_BACKTICKS.sub(r"`\1`", text).replace("|", "\\|")


def _title(title: str) -> str:
    title = _TITLES.get(title, title)
    head, parenthesis, rest = title.partition(" (")
    return f"**{head}**" + (f" ({rest}" if parenthesis else "")


def rewrite(docstring: str, known: set[str], column: str) -> str:
    """The docstring with each section turned into a bold title and a table (or its own content)."""
    out: list[str] = []
    for title, lines in _blocks(docstring.splitlines()):
        if title is None:
            out.extend(lines)
            continue
        items = _items(lines)
        heading = "Attribute" if title == "Attributes" else column
        out += [_title(title), ""]
        if items is None:
            out += _dedent(lines)
        else:
            out += [f"| {heading} | Description |", "| --- | --- |"]
            out += [f"| {_names_cell(names, known)} | {_cell(description)} |" for names, description in items]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _known_names(obj: Object) -> set[str]:
    names = set(obj.members)
    function = obj.members.get("__init__") if isinstance(obj, Class) else obj
    if isinstance(function, Function):
        names.update(parameter.name for parameter in function.parameters)
    return names


class PropTables(Extension):
    """Rewrite the sections of class and function docstrings before griffe parses them."""

    def _rewrite(self, obj: Object, column: str) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value, _known_names(obj), column)

    def on_class_members(self, *, cls: Class, **kwargs: Any) -> None:
        self._rewrite(cls, "Prop")

    def on_function_instance(self, *, func: Function, **kwargs: Any) -> None:
        self._rewrite(func, "Argument")
