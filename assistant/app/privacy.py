"""Participants' data rights: see, export and erase everything stored about them.

What is stored about a user: their conversations (messages, citations, summaries)
in the journal, and the Markdown exports they asked for (under
<data_dir>/exports/<user>/, and the copies Gradio keeps to serve downloads).
Nothing else: the shared index holds only programme material, and logs hold
no conversation text.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from assistant.app.journal import Journal
from assistant.core.settings import Settings


def user_folder(settings: Settings, user: str) -> Path:
    return settings.data_dir / "exports" / re.sub(r"[^a-zA-Z0-9_-]", "_", user)


def gradio_temp_dir(settings: Settings) -> Path:
    return Path(os.environ.get("GRADIO_TEMP_DIR") or settings.data_dir / "gradio-tmp")


def inventory(settings: Settings, journal: Journal, user: str, role: str) -> dict:
    conversations = journal.list(user)
    exports = sorted(p.name for p in user_folder(settings, user).glob("*")) if user_folder(settings, user).exists() else []
    return {
        "user": user,
        "role": role,
        "conversations": [
            {"id": c.id, "title": c.title, "mode": c.mode, "created": _iso(c.created), "updated": _iso(c.updated),
             "has_summary": bool(c.summary)}
            for c in conversations
        ],
        "exported_files": exports,
        "retention_days": settings.retention_days,
        "stored_where": journal.where,
    }


def export_archive(settings: Settings, journal: Journal, user: str, role: str, lang: str = "nb") -> bytes:
    """One zip: everything.json, one Markdown file per conversation, and a README."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        everything = {
            "inventory": inventory(settings, journal, user, role),
            "conversations": [c.model_dump(mode="json") for c in journal.export_all(user)],
        }
        zf.writestr("alt.json", json.dumps(everything, ensure_ascii=False, indent=2))
        for conv in journal.list(user):
            name = re.sub(r"[^a-zA-Z0-9æøåÆØÅ_-]+", "-", conv.title).strip("-")[:60] or "samtale"
            zf.writestr(f"samtaler/{conv.id[:8]}-{name}.md", journal.export_markdown(user, conv.id, lang))
        zf.writestr(
            "LES-MEG.txt",
            "Dette er alt refleksjonsassistenten har lagret om deg: samtalene dine med meldinger, kilder og "
            "oppsummeringer (alt.json og samtaler/*.md).\nThis is everything the assistant stores about you.\n",
        )
    return buf.getvalue()


def erase_everything(settings: Settings, journal: Journal, user: str) -> dict:
    """Delete the user's conversations, exports and served copies of them."""
    folder = user_folder(settings, user)
    export_names = {p.name for p in folder.glob("*")} if folder.exists() else set()
    removed_files = 0
    for path in list(folder.glob("*")) if folder.exists() else []:
        path.unlink(missing_ok=True)
        removed_files += 1
    if folder.exists():
        folder.rmdir()
    temp = gradio_temp_dir(settings)
    if temp.exists() and export_names:
        for path in temp.rglob("*"):
            if path.is_file() and path.name in export_names:
                path.unlink(missing_ok=True)
                removed_files += 1
    conversations = journal.erase_user(user)
    return {"conversations": conversations, "files": removed_files}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")
