"""A file the lead sent, downloaded from its channel through the console (never shown inline)."""

from __future__ import annotations

import json
from typing import Any

from tests.console.test_auth import ADMIN, console_settings
from tests.utils.console import add_user, signed_in
from tests.utils.e2e import CONTACT, StandIns, running
from tests.utils.media_hosts import META_TOKEN, MediaHosts

PDF = b"%PDF-1.4 quote"


async def test_a_leads_file_downloads_through_the_console(
    app_client: Any, make_settings: Any, stand_ins: StandIns, hosts: MediaHosts
) -> None:
    # Meta's media endpoints are the media host's here.
    settings = console_settings(
        make_settings, stand_ins, META_GRAPH_BASE=hosts.graph_base, META_ACCESS_TOKEN=META_TOKEN
    )
    async with running(app_client, settings, stand_ins) as e2e:
        hosts.add("ME99", PDF, "application/pdf")
        contact_id = await e2e.fetchval(
            "INSERT INTO contacts (channel, number) VALUES ('meta', $1) RETURNING id", CONTACT
        )
        media = [{"id": "ME99", "mime_type": "application/pdf", "filename": "quote <1>.pdf"}]
        entry = await e2e.fetchval(
            "INSERT INTO transcript (contact_id, channel, direction, author, kind, text, media) "
            "VALUES ($1, 'meta', 'in', 'lead', 'document', 'our brief', $2::jsonb) RETURNING id",
            contact_id, json.dumps(media),
        )
        admin = await signed_in(e2e.app, ADMIN, await add_user(e2e.app, email=ADMIN))
        page = await admin.get(f"/console/c/{contact_id}")
        link = f"/console/c/{contact_id}/media/{entry}/0"
        assert f'href="{link}"' in page.text and "quote &lt;1&gt;.pdf" in page.text
        download = await admin.get(link)
        assert download.status_code == 200 and download.content == PDF
        assert download.headers["content-type"] == "application/octet-stream"
        assert download.headers["content-disposition"].startswith(
            'attachment; filename="quote <1>.pdf"'
        )
        assert (await admin.get(f"/console/c/{contact_id}/media/{entry}/1")).status_code == 404
        assert (await admin.get(f"/console/c/{contact_id + 1}/media/{entry}/0")).status_code == 404
        await admin.aclose()
