"""The hidden metadata xlplan writes into every workbook: which plan, layout, cycle and
service a file belongs to, and (in a template) the values as issued."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from . import FORMAT_VERSION, __version__
from .errors import XlplanError
from .excel import XLS_TEXT_CHARS

META_SHEET = "_xlplan"
ISSUED_SHEET = "_xlplan_issued"
ID_HEADER = "xlplan ID"
STATUS_HEADER = "Changed this cycle"
# Spare rows carry IDs with this prefix, so a proposal is told apart from a pasted row.
SPARE_PREFIX = "new-"
# No hidden cell holds more than this: a return re-saved as .xls by a program that cuts
# cells at 255 characters then keeps its metadata whole. A piece of exactly the limit
# means a value was cut (see returns._cut_short).
HIDDEN_CELL_LIMIT = XLS_TEXT_CHARS
CHUNK = HIDDEN_CELL_LIMIT - 5


class NewerFormat(XlplanError):
    """The workbook was written by a newer xlplan than this one."""


class Metadata(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format_version: int
    kind: Literal["master", "template"]
    plan_id: str
    title: str
    layout_name: str
    layout_toml: str
    next_id: int = 1
    cycle: str | None = None
    service: str | None = None
    issued_at: dt.datetime | None = None
    due: dt.date | None = None
    header_row: int = 3  # 1-based, as a person counts
    spare_rows: int = 0
    # The latest merge (a master): the cycle and time of the rows on its Changes sheet.
    last_cycle: str | None = None
    last_merged_at: str | None = None
    # Proposals the central team rejected, one "service<TAB>key" a line: a later version of the
    # same return must not propose them again.
    rejected_proposals: str | None = None
    # What could not be carried (images, charts, merged cells, notes…) and was reported, by
    # digest, space-separated: each is reported once, the first time, not every cycle.
    uncarried_reported: str | None = None
    generator: str = ""


def new_metadata(
    kind: Literal["master", "template"],
    *,
    plan_id: str,
    title: str,
    layout_name: str,
    layout_toml: str,
    **more: object,
) -> Metadata:
    """The metadata of a workbook xlplan is about to write (a new master, or a service's
    template): the format version and the writer are stamped here and nowhere else."""
    return Metadata(
        format_version=FORMAT_VERSION,
        kind=kind,
        plan_id=plan_id,
        title=title,
        layout_name=layout_name,
        layout_toml=layout_toml,
        generator=f"xlplan {__version__}",
        **more,
    )


def metadata_rows(meta: Metadata) -> list[tuple[str, str]]:
    """Key/value rows for the hidden sheet; long values span several rows of the same key."""
    rows: list[tuple[str, str]] = []
    for key, value in meta.model_dump(mode="json").items():
        if value is None:
            continue
        text = str(value)
        for start in range(0, max(len(text), 1), CHUNK):
            rows.append((key, text[start : start + CHUNK]))
    return rows


def parse_metadata(rows: list[list[object]], source: str) -> Metadata:
    values: dict[str, str] = {}
    for row in rows:
        if len(row) < 2 or not isinstance(row[0], str) or not row[0]:
            continue
        piece = row[1]
        if isinstance(piece, float) and piece.is_integer():
            piece = int(piece)
        values[row[0]] = values.get(row[0], "") + ("" if piece is None else str(piece))
    try:
        meta = Metadata.model_validate(values)
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        raise XlplanError(
            f"{source}: the hidden xlplan metadata is damaged ({fields}). "
            "Use the workbook as xlplan wrote it, or issue a fresh one."
        ) from exc
    if meta.format_version > FORMAT_VERSION:
        raise NewerFormat(
            f"{source} was written by a newer xlplan (format {meta.format_version}; this one "
            f"reads up to {FORMAT_VERSION}). Upgrade xlplan: pip install -U xlplan."
        )
    return meta
