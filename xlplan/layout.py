"""Layouts: which columns a plan has, who owns each, and the rating scale. Data, not code.

A layout is a TOML file (the built-in ones live in `layouts/`); every other module asks
the layout which columns a service owns instead of keeping its own list.
"""

from __future__ import annotations

import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import XlplanError

ColumnType = Literal["text", "long_text", "date", "rating", "choice", "reference"]
Owner = Literal["central", "service", "committee"]
HEX_COLOUR = r"^#[0-9A-Fa-f]{6}$"


class Rating(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1)
    meaning: str
    fill: str = Field(pattern=HEX_COLOUR)
    font: str = Field(pattern=HEX_COLOUR)
    # Other spellings people type ("A", "W"); read as this value, with a note.
    aliases: list[str] = []
    # A rating that says the action is done: needs evidence, and its children must be done too.
    complete: bool = False


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    header: str = Field(min_length=1)
    type: ColumnType = "text"
    owner: Owner = "central"
    width: float = Field(default=15, gt=0, le=255)
    required: bool = False
    help: str = ""
    # Other headers this column is known by in trusts' own files (used by `import`).
    aliases: list[str] = []
    choices: list[str] = []


class Layout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    title: str
    description: str = ""
    sheet: str = Field(min_length=1, max_length=31)
    reference: str
    route: str
    # Separators in the routing cell that name several services ("FYPC & CHS").
    route_separators: list[str] = []
    # The rating a service gives its own action: what the Summary counts.
    service_rating: str | None = None
    # Completing an action (a `complete` rating) needs text in one of these.
    evidence_fields: list[str] = []
    # The date by which the action is due: what the overdue check reads.
    due_field: str | None = None
    # The column that says what will be done: `import` refuses a source that lacks it.
    action_field: str | None = None
    columns: list[Column] = Field(alias="column", min_length=1)
    ratings: list[Rating] = Field(alias="rating", min_length=1)

    @field_validator("columns")
    @classmethod
    def _unique_columns(cls, columns: list[Column]) -> list[Column]:
        for attr in ("field", "header"):
            seen: set[str] = set()
            for column in columns:
                # Headers as xlplan compares them (normal_header): two that differ only in
                # case or punctuation would be one column to every reader.
                key = normal_header(column.header) if attr == "header" else column.field.strip().lower()
                if key in seen:
                    raise ValueError(
                        f"two columns have the {attr} {getattr(column, attr)!r}"
                        + (
                            " (headers are compared without case, spacing or punctuation)"
                            if attr == "header"
                            else ""
                        )
                    )
                seen.add(key)
        for column in columns:
            if column.type == "choice" and not column.choices:
                raise ValueError(f"column {column.field!r} is a choice but lists no choices")
        return columns

    @field_validator("ratings")
    @classmethod
    def _unique_ratings(cls, ratings: list[Rating]) -> list[Rating]:
        seen: set[str] = set()
        for rating in ratings:
            for name in (rating.value, *rating.aliases):
                if name.strip().lower() in seen:
                    raise ValueError(f"the rating name {name!r} is used twice")
                seen.add(name.strip().lower())
        return ratings

    @model_validator(mode="after")
    def _fields_exist(self) -> Layout:
        fields = {c.field for c in self.columns}
        named = {
            "reference": [self.reference],
            "route": [self.route],
            "service_rating": [self.service_rating] if self.service_rating else [],
            "evidence_fields": self.evidence_fields,
            "due_field": [self.due_field] if self.due_field else [],
            "action_field": [self.action_field] if self.action_field else [],
        }
        for key, values in named.items():
            for value in values:
                if value not in fields:
                    raise ValueError(
                        f"{key} names the field {value!r}, but no column has it "
                        f"(fields: {', '.join(sorted(fields))})"
                    )
        if self.service_rating and self.column(self.service_rating).type != "rating":
            raise ValueError(f"service_rating {self.service_rating!r} is not a rating column")
        if not any(c.owner == "service" for c in self.columns):
            raise ValueError('no column has owner = "service": services could edit nothing')
        return self

    # --- questions every stage asks -------------------------------------------------

    def column(self, field: str) -> Column:
        return self._by_field[field]

    @cached_property
    def _by_field(self) -> dict[str, Column]:
        return {c.field: c for c in self.columns}

    @cached_property
    def fields(self) -> list[str]:
        return [c.field for c in self.columns]

    @property
    def service_fields(self) -> list[str]:
        return [c.field for c in self.columns if c.owner == "service"]

    @property
    def rating_values(self) -> list[str]:
        return [r.value for r in self.ratings]

    @property
    def complete_ratings(self) -> set[str]:
        return {r.value for r in self.ratings if r.complete}

    @cached_property
    def _rating_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for rating in self.ratings:
            for name in (rating.value, *rating.aliases):
                names[name.strip().lower()] = rating.value
        return names

    def normalise_rating(self, text: str) -> str | None:
        """The scale's value for what a person typed (" amber ", "AMBER", "A"), or None."""
        return self._rating_names.get(text.strip().lower())

    def rating_value(self, written: str) -> str:
        """A rating as written, read as the scale value it names; text off the scale as it is
        (so it counts as not rated, and is never complete)."""
        return self._rating_names.get(written.strip().lower()) or written

    def split_route(self, text: str) -> list[str]:
        """The services a routing cell names, in order, without duplicates."""
        parts = [text]
        for separator in self.route_separators:
            parts = [piece for part in parts for piece in part.split(separator)]
        seen: list[str] = []
        for part in parts:
            name = re.sub(r"\s+", " ", part).strip()
            if name and name not in seen:
                seen.append(name)
        return seen


def normal_header(text: str) -> str:
    """A header as xlplan compares it, everywhere (import, the master, returns): case,
    spacing, line breaks and punctuation do not count; a header of punctuation only ("#") is
    kept as it is."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split()) or text.strip()


def builtin_layout_dir() -> Path:
    """Where the shipped layouts are: inside the installed package, or the repo's layouts/.
    (The wheel also keeps them at xlplan/templates/, their path before they were renamed, for
    anyone who pointed --layout at the installed file.)"""
    packaged = Path(__file__).parent / "layouts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).parent.parent / "layouts"


def builtin_layouts() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_layout_dir().glob("*.toml"))}


_PARSED: dict[str, Layout] = {}


def parse_layout(text: str, source: str) -> Layout:
    """A layout from TOML text; `source` names the file in messages.

    Every return carries its plan's layout: each distinct text is parsed once per run."""
    layout = _PARSED.get(text)
    if layout is None:
        layout = _PARSED[text] = _validate_layout(text, source)
    return layout


def _validate_layout(text: str, source: str) -> Layout:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise XlplanError(f"Layout {source}: not valid TOML: {exc}. Fix the line it names.") from exc
    except RecursionError as exc:  # arrays or tables nested thousands deep: no layout is
        raise XlplanError(
            f"Layout {source}: not a layout (its values are nested far deeper than any layout's)."
        ) from exc
    try:
        return _model(data, source)
    except RecursionError as exc:
        raise XlplanError(
            f"Layout {source}: not a layout (its values are nested far deeper than any layout's)."
        ) from exc


def _model(data: dict, source: str) -> Layout:
    try:
        return Layout.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = _error_key(err["loc"], data)
            lines.append(f"  - {key}: {plain_error(err)}")
        raise XlplanError(
            f"Layout {source} has {len(lines)} mistake(s):\n"
            + "\n".join(lines)
            + "\nFix these keys and run `xlplan layouts --check FILE` again; `xlplan layouts "
            "--show cqc --toml` prints a working layout, every key explained."
        ) from exc


KNOWN_KEYS = {
    "layout": [f.alias or name for name, f in Layout.model_fields.items()],
    "column": list(Column.model_fields),
    "rating": list(Rating.model_fields),
}
# What a key must hold, for the messages: pydantic's own wording ("String should match
# pattern '^#[0-9A-Fa-f]{6}$'") means nothing to the person who wrote the file.
PATTERN_WORDS = {
    HEX_COLOUR: 'a colour written as "#" and six hex digits, such as "#C00000"',
    r"^[a-z][a-z0-9_]*$": 'lower-case letters, digits and "_", starting with a letter, such as "due_date"',
    r"^[A-Za-z0-9_.-]+$": 'letters, digits, "_", "." or "-" only, such as "my-trust"',
}
TYPE_WORDS = {
    "string_type": 'text in double quotes, such as "Owner"',
    "list_type": 'a list in square brackets, such as ["A", "B"]',
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "float_type": "a number, such as 15",
    "float_parsing": "a number, such as 15",
    "dict_type": "a table of keys",
    "model_type": "a table of keys",
}


def plain_error(err: dict) -> str:
    """One validation error in the words of the person editing the TOML file, with the fix."""
    kind, ctx, loc = err["type"], err.get("ctx") or {}, err["loc"]
    section = "column" if "column" in loc else "rating" if "rating" in loc else "layout"
    if kind == "extra_forbidden":
        return (
            (
                f"xlplan does not know this key (a typo?). Keys allowed in a [[{section}]]: "
                if section != "layout"
                else "xlplan does not know this key (a typo?). Keys allowed at the top: "
            )
            + ", ".join(KNOWN_KEYS[section])
            + "."
        )
    if kind == "missing":
        return "this key is required: add it."
    if kind == "string_pattern_mismatch":
        words = PATTERN_WORDS.get(ctx.get("pattern", ""), "text of the expected form")
        return f"must be {words}."
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}."
    if kind in TYPE_WORDS:
        return f"must be {TYPE_WORDS[kind]}."
    if kind == "string_too_short":
        return "must not be empty."
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters."
    if kind == "too_short":
        return (
            f"needs at least one [[{loc[-1]}]] entry."
            if loc[-1] in ("column", "rating")
            else "must not be empty."
        )
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}."
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}."
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])).rstrip(".") + "."
    return err["msg"].replace("Input should be", "must be").replace("Value error, ", "")


def _error_key(loc: tuple, data: dict) -> str:
    """`column[3] (field "due").type` rather than pydantic's bare tuple."""
    parts: list[str] = []
    node: object = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item + 1}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("field") or node[item].get("value")
                if name:
                    label += f" ({name})"
                node = node[item]
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "layout"


LAYOUT_GUIDE = """\
# An xlplan layout: the columns of your action plan, who fills in each, and the rating scale.
# Save this as my-layout.toml, edit it, check it with `xlplan layouts --check my-layout.toml`
# and use it with `--layout my-layout.toml` (import, new).
#
# Top-level keys
#   name, title, description  what xlplan calls the layout and the plan
#   sheet            the plan sheet's name in every workbook (at most 31 characters)
#   reference        the field of the column holding each action's reference (1, 2.1, ...)
#   route            the field of the column naming the service (team) each action goes to
#   route_separators text that splits one routing cell into several services ("&")
#   service_rating   the rating column services fill in (the Summary counts it)
#   evidence_fields  a completed rating needs text in one of these columns
#   due_field        the date column the overdue check reads
#   action_field     the column saying what will be done (import refuses a plan without it)
# [[column]]: one per column, in the order they appear
#   field    a short name: lower-case letters, digits and _ (due_date)
#   header   the header exactly as your plan prints it
#   type     text, long_text, date, rating, choice or reference
#   owner    central (the quality team), service (filled in by services) or committee
#   width    column width in characters; required = true when it must be filled in
#   help     the note a service sees on the header; choices = [...] for a choice column
#   aliases  other headers this column has in your own files, for `xlplan import`
#            ("RAG" for "RAG Rating", "Lead" for "Owner"); case and spacing never matter
# [[rating]]: one per value of the rating scale, best known first
#   value, meaning   the value as services pick it, and what it means (shown on the Key)
#   fill, font       colours such as "#C00000"
#   aliases          other spellings people type ("R", "Off track"); read as this value
#   complete = true  for a rating that says the action is done (needs evidence)

"""


def load_layout(name_or_path: str | Path) -> tuple[Layout, str]:
    """A built-in layout by name, or a user's file by path; also returns the TOML text.

    The text travels inside every workbook xlplan writes, so a plan keeps working even
    when the layout file it was made with is no longer at hand.
    """
    candidate = Path(name_or_path)
    builtins = builtin_layouts()
    if str(name_or_path) in builtins:
        path = builtins[str(name_or_path)]
    elif candidate.suffix.lower() == ".toml" or candidate.exists():
        path = candidate
        if not path.is_file():
            raise XlplanError(
                f"Layout file {path} not found. Give a path to a .toml layout file"
                f" or one of: {', '.join(builtins)}."
            )
    else:
        raise XlplanError(
            f"Unknown layout {str(name_or_path)!r}. Built-in layouts: {', '.join(builtins)}; "
            "or give the path of a .toml layout file."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise XlplanError(f"Layout file {path} cannot be read: {exc}") from exc
    return parse_layout(text, str(path)), text
