"""The import's options that change how the source is read: --map (a source header is a
layout column), --map-rating (a spelling is a rating on the scale) and --route (which column
sends actions to services)."""

from __future__ import annotations

import re

from .errors import XlplanError
from .import_table import normal_header, resolve_field
from .layout import Layout, parse_layout


def parse_maps(pairs: list[str], layout: Layout, option: str) -> list[tuple[str, str]]:
    """['Responsible Lead=owner'] -> [('Responsible Lead', 'owner')], refusing what has no '='."""
    parsed = []
    for pair in pairs:
        left, sep, right = pair.rpartition("=")
        if not sep or not left.strip() or not right.strip():
            raise XlplanError(
                f'{option} {pair!r}: write it as {option} "Your header=field" '
                "(quote it when it holds spaces)."
            )
        parsed.append((left.strip(), right.strip()))
    return parsed


def column_maps(pairs: list[str], layout: Layout) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for left, right in parse_maps(pairs, layout, "--map"):
        target = resolve_field(layout, right)
        if target is None:
            raise XlplanError(
                f"--map {left}={right}: layout {layout.name!r} has no column "
                f"{right!r}. Its fields: {', '.join(layout.fields)}."
            )
        mapping[normal_header(left)] = target
    return mapping


def rating_maps(pairs: list[str], layout: Layout) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for left, right in parse_maps(pairs, layout, "--map-rating"):
        value = layout.normalise_rating(right)
        if value is None:
            raise XlplanError(
                f"--map-rating {left}={right}: {right!r} is not on the layout's "
                f"scale ({', '.join(layout.rating_values)})."
            )
        mapping[left.strip().lower()] = value
    return mapping


def _field_for(header: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", header.lower()).strip("_") or "column"
    base = base if base[0].isalpha() else f"c_{base}"
    name, n = base[:40], 2
    while name in taken:
        name, n = f"{base[:36]}_{n}", n + 1
    return name


def routed_layout(layout: Layout, layout_toml: str, route: str) -> tuple[Layout, str, str | None]:
    """The layout routing by the column the user named, and the source header to map to it.

    A layout column (by field, header or alias) becomes the route; a column the layout does
    not know is added to the layout as a central column. The change is written into the TOML
    text the master carries, so templates and merges route the same way."""
    target = resolve_field(layout, route)
    text = layout_toml
    source_header = None
    if target is None:
        target = _field_for(route, set(layout.fields))
        text = (
            text.rstrip("\n") + "\n\n# Added by `xlplan import --route`: the column that routes "
            f'actions to services.\n[[column]]\nfield = "{target}"\nheader = '
            f'{_toml_string(route)}\nowner = "central"\nwidth = 16\n'
        )
        source_header = route
    if target != layout.route:
        text, count = re.subn(r"^route\s*=.*$", f'route = "{target}"', text, count=1, flags=re.M)
        if not count:
            raise XlplanError(f"--route {route!r}: the layout has no top-level `route` line to change.")
    if text == layout_toml:
        return layout, layout_toml, source_header
    return parse_layout(text, f"layout {layout.name!r} with --route"), text, source_header


def _toml_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)
