"""Table rendering.

:func:`tabulate` normalizes the rows into columns, infers a type for each
column (``int``, ``float`` or ``str``), formats every cell into text, pads the
cells to the column width and joins them with the characters of a style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

Row = Union[Sequence[Any], Mapping[str, Any]]


@dataclass(frozen=True)
class Style:
    """The characters a table style is drawn with."""

    column_sep: str = "  "
    left: str = ""
    right: str = ""
    header_rule: Optional[str] = "-"  # fill character of the rule under the header, None for none
    rule_sep: str = "  "
    rule_left: str = ""
    rule_right: str = ""
    frame: bool = False  # draw the header rule above the header and after every row too
    markdown: bool = False  # mark alignment with colons in the header rule
    rule_pad: int = 0  # extra rule characters per column (Markdown rules span the cell padding)


STYLES: dict[str, Style] = {
    "simple": Style(),
    "plain": Style(header_rule=None),
    "grid": Style(" | ", "| ", " |", "-", "-+-", "+-", "-+", frame=True),
    "markdown": Style(" | ", "| ", " |", "-", "|", "|", "|", markdown=True, rule_pad=2),
}

_ALIGNMENTS = ("left", "right", "center")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    return isinstance(value, float)


def _column_type(values: Iterable[Any]) -> type:
    """``int`` if every non-missing value is an integer, ``float`` if all are numbers, else ``str``."""
    present = [v for v in values if v is not None]
    if present and all(_is_int(v) for v in present):
        return int
    if present and all(_is_int(v) or _is_float(v) for v in present):
        return float
    return str


def _format_cell(value: Any, coltype: type, floatfmt: str, intfmt: str, missingval: str) -> str:
    if value is None:
        return missingval
    if coltype is float and (_is_float(value) or _is_int(value)):
        return format(float(value), floatfmt)
    if coltype is int and _is_int(value):
        return format(value, intfmt)
    return str(value)


def _pad(text: str, width: int, align: str) -> str:
    if align == "right":
        return text.rjust(width)
    if align == "center":
        return text.center(width)
    return text.ljust(width)


def _normalize(rows: Iterable[Row], headers: Union[str, Sequence[str]]) -> tuple[list[str], list[list[Any]]]:
    """Return the header texts and the rows as lists of equal length."""
    rows = list(rows)
    if headers == "keys":
        keys: list[str] = []
        for row in rows:
            if not isinstance(row, Mapping):
                raise TypeError('headers="keys" needs rows that are dicts')
            keys += [k for k in row if k not in keys]
        return [str(k) for k in keys], [[row.get(k) for k in keys] for row in rows]
    if isinstance(headers, str):
        raise ValueError(f'headers must be a sequence or "keys", got {headers!r}')
    data = [list(row.values()) if isinstance(row, Mapping) else list(row) for row in rows]
    ncols = max([len(headers)] + [len(row) for row in data])
    head = [str(h) for h in headers] + [""] * (ncols - len(headers))
    return head, [row + [None] * (ncols - len(row)) for row in data]


def tabulate(
    rows: Iterable[Row],
    headers: Union[str, Sequence[str]] = (),
    *,
    style: str = "simple",
    floatfmt: str = "g",
    intfmt: str = "",
    align: Optional[Sequence[str]] = None,
    missingval: str = "",
) -> str:
    """Render ``rows`` as a text table and return it (without a trailing newline).

    :param rows: sequences or mappings, one per row; short rows are padded with missing values.
    :param headers: column titles, or ``"keys"`` to use the keys of mapping rows.
    :param style: one of :data:`STYLES`.
    :param floatfmt: format spec for floats, e.g. ``".2f"`` or ``",.1f"``.
    :param intfmt: format spec for integers, e.g. ``","``.
    :param align: per-column ``"left"``, ``"right"`` or ``"center"``; default by column type.
    :param missingval: text shown for ``None``.
    """
    try:
        st = STYLES[style]
    except KeyError:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}") from None
    head, data = _normalize(rows, headers)
    columns = [list(col) for col in zip(*data)] if data else [[] for _ in head]
    types = [_column_type(col) for col in columns]
    if align is None:
        aligns = ["left" if t is str else "right" for t in types]
    else:
        if len(align) != len(head) or any(a not in _ALIGNMENTS for a in align):
            raise ValueError(f"align must give one of {_ALIGNMENTS} per column")
        aligns = list(align)

    # Column widths: the widest of the header and the values (at least 1, or 3 in Markdown).
    minimum = 3 if st.markdown else 1
    widths = [
        max([minimum, len(h)] + [len(missingval if v is None else str(v)) for v in col])
        for h, col in zip(head, columns)
    ]
    cells = [
        [_format_cell(v, t, floatfmt, intfmt, missingval) for v, t in zip(row, types)]
        for row in data
    ]

    def line(texts: Sequence[str]) -> str:
        padded = [_pad(t, w, a) for t, w, a in zip(texts, widths, aligns)]
        return (st.left + st.column_sep.join(padded) + st.right).rstrip()

    def rule() -> str:
        parts = []
        for w, a in zip(widths, aligns):
            fill = st.header_rule * (w + st.rule_pad)
            if st.markdown and a in ("right", "center"):
                fill = fill[:-1] + ":"
            if st.markdown and a in ("left", "center"):
                fill = ":" + fill[1:]
            parts.append(fill)
        return st.rule_left + st.rule_sep.join(parts) + st.rule_right

    out: list[str] = []
    has_header = any(head)
    if st.frame:
        out.append(rule())
    if has_header:
        out.append(line(head))
        if st.header_rule is not None:
            out.append(rule())
    for row in cells:
        out.append(line(row))
        if st.frame:
            out.append(rule())
    return "\n".join(out)
