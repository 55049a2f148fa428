"""Render docs/draft.png: the Corporate draft of the bundled example as a mail program shows it.

The draft is written by `xlplan template --drafts` into a temporary folder, parsed back with
the `email` package, and its HTML body framed by the header lines a mail window shows (To, Cc,
Subject, the attachment); headless Chromium (or LibreOffice) takes the picture.

    python docs/draft_preview.py
"""

from __future__ import annotations

import email
import html
import shutil
import subprocess
import sys
import tempfile
from email import policy
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from click.testing import CliRunner  # noqa: E402

from xlplan.cli import main  # noqa: E402

CONTACTS = (
    "Service,Contact names,Email addresses,Cc\nCorporate,Jane Doe,jane.doe@nhs.net,quality.team@nhs.net\n"
)


def frame(draft: email.message.EmailMessage) -> str:
    body = draft.get_body(("html",)).get_content()
    inner = body.split("<body", 1)[1].split(">", 1)[1].rsplit("</body>", 1)[0]
    [attachment] = list(draft.iter_attachments())
    size = len(attachment.get_content()) // 1024
    rows = "".join(
        f"<tr><td class=k>{k}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in (("To", draft["To"]), ("Cc", draft["Cc"]), ("Subject", draft["Subject"]))
    )
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body {{ margin:0; font-family:Calibri,Carlito,Arial,sans-serif; background:#e9edf2 }}
.win {{ margin:16px; background:white; border:1px solid #b8c2cc; box-shadow:0 2px 6px #0002 }}
.bar {{ background:#005eb8; color:white; padding:8px 14px; font-size:10.5pt }}
.bar b {{ background:white; color:#005eb8; padding:2px 10px; border-radius:3px; margin-right:10px }}
table.h {{ border-collapse:collapse; margin:10px 14px 0; font-size:10.5pt }}
table.h td {{ padding:3px 8px; border-bottom:1px solid #eef }} td.k {{ color:#666; width:60px }}
.att {{ margin:8px 14px; display:inline-block; border:1px solid #cfd8e3; padding:6px 10px;
        border-radius:3px; font-size:10pt }} .att i {{ color:#1d6f42; font-style:normal; font-weight:bold }}
.msg {{ padding:4px 18px 14px; border-top:1px solid #dde }}
</style></head><body><div class=win><div class=bar><b>Send</b>Draft — opened from Corporate.eml</div>
<table class=h>{rows}</table>
<div class=att><i>X</i> {html.escape(attachment.get_filename())} · {size} KB</div>
<div class=msg>{inner}</div></div></body></html>"""


def main_() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(REPO / "examples" / "lpt-cqc-2017" / "plan.xlsx", folder / "plan.xlsx")
        (folder / "contacts.csv").write_text(CONTACTS, encoding="utf-8")
        args = [
            "template",
            str(folder / "plan.xlsx"),
            "-o",
            str(folder / "out"),
            "--cycle",
            "2025-Q1",
            "--due",
            "31/03/2025",
            "--service",
            "Corporate",
            "--drafts",
            "--contacts",
            str(folder / "contacts.csv"),
        ]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        draft = email.message_from_bytes(
            (folder / "out" / "Corporate.eml").read_bytes(), policy=policy.default
        )
        page = folder / "draft.html"
        page.write_text(frame(draft), encoding="utf-8")
        target = REPO / "docs" / "draft.png"
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium:
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    f"--screenshot={target}",
                    "--window-size=820,640",
                    page.as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        else:
            subprocess.run(
                ["soffice", "--headless", "--convert-to", "png", "--outdir", tmp, str(page)],
                check=True,
                capture_output=True,
                timeout=120,
            )
            shutil.copy(folder / "draft.png", target)
        print(f"wrote {target}")


if __name__ == "__main__":
    main_()
