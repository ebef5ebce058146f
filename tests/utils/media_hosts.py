"""Local stand-ins of the hosts media comes from and goes to, for the media and voice tests.

- `twilio`: Twilio's API host. `GET .../Media/{name}` needs HTTP basic auth with the account SID
  and token and answers 307 to a signed URL on `cdn`, as Twilio does; `POST .../Messages.json`
  records outbound messages (voice replies by URL).
- `cdn`: serves the signed URLs; refuses any request carrying an `Authorization` header (our
  credentials must not follow the redirect to another origin).
- `graph`: Meta's Graph API. `GET /{media-id}` (bearer token) answers `{url, mime_type, file_size,
  sha256, id}`; that URL (bearer token) serves the bytes; `POST /{phone-id}/media` and
  `/{phone-id}/messages` record uploads and sent messages.

Every file is served in 64 KiB chunks and the bytes actually handed to the server are counted,
so a test can tell a refused download from a complete one. A file can fail with given statuses
first, stall, omit its Content-Length, or announce a size of its own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from integrations.whatsapp.types import MediaRef
from tests.utils.servers import ThreadedServer

__all__ = ["ACCOUNT_SID", "AUTH_TOKEN", "META_TOKEN", "PHONE_ID", "MediaHosts", "make_pdf"]

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-s3cr3t"
META_TOKEN = "EAAG-meta-access-token-s3cr3t"
CDN_SIGNATURE = "cdn-signature-s3cr3t"
META_HASH = "lookaside-hash-s3cr3t"
PHONE_ID = "106540352242922"
CHUNK = 64 * 1024


@dataclass
class HostedFile:
    data: bytes
    mime_type: str
    failures: list[int] = field(default_factory=list)
    """Statuses answered to the first downloads, one each, before the file is served."""
    stall: float = 0.0
    """Seconds to wait before answering each download."""
    content_length: bool = True
    announced_size: int | None = None
    """The Graph lookup's `file_size` (default: the real size)."""
    served: int = 0
    """Body bytes handed to the server for this file, over all downloads."""
    downloads: int = 0
    lookups: int = 0


class MediaHosts:
    """The three hosts, started together; `add()` a file, get the `MediaRef` a webhook holds."""

    def __init__(self) -> None:
        self.files: dict[str, HostedFile] = {}
        self.leaked_auth = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate = 0
        """Hold downloads until this many are in flight at once (or 5 s pass): proves concurrency.

        Reset to 0 when reached, which lets every held download go."""
        self.uploads: list[dict[str, Any]] = []
        self.meta_messages: list[dict[str, Any]] = []
        self.twilio_messages: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self.cdn = ThreadedServer(Starlette(routes=[Route("/cdn/{name}", self._cdn)]))
        self.twilio = ThreadedServer(Starlette(routes=[
            Route("/2010-04-01/Accounts/{sid}/Messages/{mm}/Media/{name}", self._twilio_media),
            Route("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio_send, methods=["POST"]),
        ]))
        self.graph = ThreadedServer(Starlette(routes=[
            Route("/v21.0/download/{name}", self._meta_download),
            Route("/v21.0/{phone}/media", self._meta_upload, methods=["POST"]),
            Route("/v21.0/{phone}/messages", self._meta_send, methods=["POST"]),
            Route("/v21.0/{name}", self._meta_lookup),
        ]))

    def __enter__(self) -> MediaHosts:
        for server in (self.cdn, self.twilio, self.graph):
            server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.cdn, self.twilio, self.graph):
            server.stop()

    def reset(self) -> None:
        """Forget every file and recorded request (between tests)."""
        self.files.clear()
        self.uploads.clear()
        self.meta_messages.clear()
        self.twilio_messages.clear()
        self.leaked_auth = self.max_in_flight = self.gate = 0  # in_flight: stalled ones may remain

    @property
    def graph_base(self) -> str:
        return f"{self.graph.url}/v21.0"

    def add(self, name: str, data: bytes, mime_type: str, **options: Any) -> HostedFile:
        self.files[name] = HostedFile(data=data, mime_type=mime_type, **options)
        return self.files[name]

    def twilio_url(self, name: str) -> str:
        return f"{self.twilio.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/{name}"

    def twilio_ref(self, name: str, mime_type: str | None = "") -> MediaRef:
        declared = self.files[name].mime_type if mime_type == "" else mime_type
        return MediaRef(url=self.twilio_url(name), mime_type=declared)

    def meta_ref(self, name: str, *, filename: str | None = None, voice: bool = False) -> MediaRef:
        return MediaRef(
            id=name, mime_type=self.files[name].mime_type, filename=filename, voice=voice
        )

    def secrets(self) -> list[str]:
        """Strings that must never appear in a log line or an exception."""
        basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return [AUTH_TOKEN, META_TOKEN, CDN_SIGNATURE, META_HASH, basic, "/Media/", "/download/"]

    # --- Serving -------------------------------------------------------------------------

    async def _serve(self, request: Request, name: str) -> Response:
        hosted = self.files.get(name)
        if hosted is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        hosted.downloads += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(500):
                if self.in_flight >= self.gate:
                    self.gate = 0  # reached once: open for every waiting download
                if not self.gate:
                    break
                await asyncio.sleep(0.01)
            if hosted.stall:
                await asyncio.sleep(hosted.stall)
        finally:
            self.in_flight -= 1
        if hosted.failures:
            return Response(b"upstream error", status_code=hosted.failures.pop(0))

        async def body() -> AsyncIterator[bytes]:
            for start in range(0, len(hosted.data), CHUNK):
                # The server drops writes to a closed connection silently: stop counting there.
                if await request.is_disconnected():
                    return
                chunk = hosted.data[start : start + CHUNK]
                hosted.served += len(chunk)
                yield chunk

        headers = {"content-length": str(len(hosted.data))} if hosted.content_length else {}
        return StreamingResponse(body(), media_type=hosted.mime_type, headers=headers)

    # --- Twilio --------------------------------------------------------------------------

    async def _twilio_media(self, request: Request) -> Response:
        if request.headers.get("authorization") != _basic(ACCOUNT_SID, AUTH_TOKEN):
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        name = request.path_params["name"]
        return RedirectResponse(
            f"{self.cdn.url}/cdn/{name}?Expires=9999999999&Signature={CDN_SIGNATURE}",
            status_code=307,
        )

    async def _cdn(self, request: Request) -> Response:
        leaked = "authorization" in request.headers
        if leaked or request.query_params.get("Signature") != CDN_SIGNATURE:
            self.leaked_auth += leaked
            return Response(b"<Error>AccessDenied</Error>", status_code=403)
        return await self._serve(request, request.path_params["name"])

    async def _twilio_send(self, request: Request) -> Response:
        if request.headers.get("authorization") != _basic(ACCOUNT_SID, AUTH_TOKEN):
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        form = await request.form()
        self.twilio_messages.append({key: str(value) for key, value in form.items()})
        return JSONResponse({"sid": f"SM{next(self._ids):032d}"}, status_code=201)

    # --- Meta ----------------------------------------------------------------------------

    def _meta_authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {META_TOKEN}"

    @staticmethod
    def _meta_denied() -> Response:
        return JSONResponse(
            {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                       "code": 190}},
            status_code=401,
        )

    async def _meta_lookup(self, request: Request) -> Response:
        if not self._meta_authorized(request):
            return self._meta_denied()
        name = request.path_params["name"]
        hosted = self.files.get(name)
        if hosted is None:
            return JSONResponse(
                {"error": {"message": "Unsupported get request.", "code": 100}}, status_code=400
            )
        hosted.lookups += 1
        return JSONResponse({
            "url": f"{self.graph_base}/download/{name}?hash={META_HASH}",
            "mime_type": hosted.mime_type,
            "sha256": hashlib.sha256(hosted.data).hexdigest(),
            "file_size": hosted.announced_size or len(hosted.data),
            "id": name,
            "messaging_product": "whatsapp",
        })

    async def _meta_download(self, request: Request) -> Response:
        if not self._meta_authorized(request) or request.query_params.get("hash") != META_HASH:
            return self._meta_denied()
        return await self._serve(request, request.path_params["name"])

    async def _meta_upload(self, request: Request) -> Response:
        if not self._meta_authorized(request):
            return self._meta_denied()
        form = await request.form()
        upload = form.get("file")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        media_id = f"up-{next(self._ids)}"
        self.uploads.append({
            "id": media_id, "data": data, "type": form.get("type"),
            "messaging_product": form.get("messaging_product"),
            "content_type": getattr(upload, "content_type", None),
        })
        return JSONResponse({"id": media_id})

    async def _meta_send(self, request: Request) -> Response:
        if not self._meta_authorized(request):
            return self._meta_denied()
        self.meta_messages.append(await request.json())
        return JSONResponse({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "x", "wa_id": "x"}],
            "messages": [{"id": f"wamid.out{next(self._ids)}"}],
        })


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def make_pdf(*lines: str) -> bytes:
    """A one-page PDF whose text layer holds `lines` (Helvetica, one line each)."""
    from io import BytesIO

    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    })
    page[NameObject("/Resources")] = DictionaryObject({
        NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})
    })
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = DecodedStreamObject()
    stream.set_data("\n".join(ops).encode("latin-1"))
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()
