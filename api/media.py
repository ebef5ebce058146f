"""`GET /media/{id}.ogg`: the synthesized voice replies Twilio fetches to deliver them.

Twilio sends media only from a public URL, so a voice reply is kept in Redis for a few minutes
under a random, unguessable id (`pipeline.voice.AudioStore`) and served from here. No auth:
Twilio's fetch carries none; the id is the secret (192 random bits) and it expires. An unknown or
expired id is 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response

from api.deps import ResourcesDep
from pipeline.voice import AUDIO_MIME_TYPE, AudioStore

__all__ = ["AudioStoreDep", "get_audio_store", "router"]

router = APIRouter(prefix="/media", tags=["media"])


def get_audio_store(resources: ResourcesDep) -> AudioStore:
    return AudioStore(resources.redis)


AudioStoreDep = Annotated[AudioStore, Depends(get_audio_store)]


# HEAD is served too but left out of the OpenAPI schema: one route with both methods gave both
# operations the same id, and /docs warned "Duplicate Operation ID".
@router.get("/{audio_id}.ogg")
@router.head("/{audio_id}.ogg", include_in_schema=False)
async def voice_audio(audio_id: str, *, store: AudioStoreDep) -> Response:
    """A voice reply's Ogg/Opus audio, while it has not expired."""
    data = await store.get(audio_id)
    if data is None:
        raise HTTPException(status_code=404, detail="This audio has expired or never existed.")
    return Response(
        content=data, media_type=AUDIO_MIME_TYPE, headers={"Cache-Control": "private, no-store"}
    )
