"""The naive pandas pipeline: read_excel every return, concat, to_excel. Nothing is checked
or highlighted."""

from __future__ import annotations

from .common import returns


def run(spec: dict) -> None:
    """The naive pipeline: read every return's first sheet, stack them, write them out."""
    import pandas as pd

    # engine="openpyxl" is pandas' default for .xlsx today; named to pin what is measured.
    frames = [
        pd.read_excel(path, sheet_name=0, header=2, engine="openpyxl") for path in returns(spec["inbox"])
    ]
    pd.concat(frames, ignore_index=True).to_excel(spec["out"], index=False)
    print(f"rows={sum(len(f) for f in frames)}")
