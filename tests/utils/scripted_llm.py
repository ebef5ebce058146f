"""A scripted OpenAI-compatible server on 127.0.0.1: the LLM's stand-in in tests and benchmarks.

The real `openai` / `langchain-openai` clients talk HTTP to it. A test queues the replies it
expects, in order, and reads back the requests the server received:

    llm.push(json={"reply": "Hi!", "confidence": 0.9})    # structured output (JSON content)
    llm.push(content="plain text")                        # a plain chat answer
    llm.push(tool_calls=[{"name": "find_slots", "arguments": {"day": "tue"}}])
    llm.push(status=500)                                  # an API error
    llm.push(content="{not json", delay=2.0)              # malformed structured output, slowly
    llm.push_transcription("I need 20 licences")          # /v1/audio/transcriptions
    llm.chat_requests[-1]["messages"]                     # what the model was sent

With the queue empty the `responder` answers (a callable from the request body to a `Reply`;
`transcriber` likewise for transcriptions, whose recorded body holds the uploaded `file` bytes),
and without one the server answers 500 "script exhausted", so an unexpected call fails loudly.
`delay` (seconds, per reply or `default_delay` for all) stands in for model latency in benchmarks.
Endpoints: chat completions (plain, JSON, tool calls, streaming), audio transcriptions, speech.
"""

from __future__ import annotations

import asyncio
import itertools
import json as jsonlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.utils.servers import ThreadedServer

__all__ = ["Reply", "ScriptedLLM"]

# A valid, silent, 1-frame MP3 header is not needed by any client: bytes are passed through.
DEFAULT_SPEECH = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 32


@dataclass(kw_only=True)
class Reply:
    """One scripted answer of the server."""

    content: str | None = None
    json: Any = None
    tool_calls: list[dict[str, Any]] | None = None
    status: int = 200
    delay: float | None = None
    text: str | None = None  # transcription text
    audio: bytes | None = None  # speech bytes
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 10, "completion_tokens": 5}
    )


class ScriptedLLM:
    """The server; `start()`/`stop()` or use it as a context manager."""

    def __init__(self) -> None:
        self._chat: deque[Reply] = deque()
        self._transcriptions: deque[Reply] = deque()
        self._speech: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[dict[str, Any]] = []
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self.transcriber: Callable[[dict[str, Any]], Reply] | None = None
        """Answers transcriptions when none is queued (for uploads whose order is not fixed)."""
        self.default_delay: float = 0.0
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/audio/transcriptions", self._transcription, methods=["POST"]),
                Route("/v1/audio/speech", self._speech_endpoint, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        self._server = ThreadedServer(app)

    # --- Lifecycle -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The `OPENAI_BASE_URL` to give the client."""
        return f"{self._server.url}/v1"

    def start(self) -> ScriptedLLM:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget the script, the responder and the recorded requests."""
        with self._lock:
            self._chat.clear()
            self._transcriptions.clear()
            self._speech.clear()
            self.requests.clear()
            self.responder = None
            self.transcriber = None
            self.default_delay = 0.0

    # --- Script --------------------------------------------------------------------------
    def push(self, content: str | None = None, **kwargs: Any) -> None:
        """Queue one chat completion answer (see `Reply` for the fields)."""
        with self._lock:
            self._chat.append(Reply(content=content, **kwargs))

    def push_transcription(self, text: str, **kwargs: Any) -> None:
        with self._lock:
            self._transcriptions.append(Reply(text=text, **kwargs))

    def push_speech(self, audio: bytes = DEFAULT_SPEECH, **kwargs: Any) -> None:
        with self._lock:
            self._speech.append(Reply(audio=audio, **kwargs))

    @property
    def pending(self) -> int:
        """Chat answers queued and not yet served."""
        return len(self._chat)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat completion requests received, in order."""
        return [r["body"] for r in self.requests if r["path"] == "/v1/chat/completions"]

    # --- Endpoints -----------------------------------------------------------------------
    def _next(self, queue: deque[Reply], body: dict[str, Any], path: str) -> Reply | None:
        with self._lock:
            self.requests.append({"path": path, "body": body, "at": time.time()})
            if queue:
                return queue.popleft()
        if path == "/v1/chat/completions" and self.responder is not None:
            return self.responder(body)
        return None

    async def _pause(self, reply: Reply) -> None:
        delay = self.default_delay if reply.delay is None else reply.delay
        if delay:
            await asyncio.sleep(delay)

    @staticmethod
    def _error(status: int, message: str) -> JSONResponse:
        return JSONResponse(
            {"error": {"message": message, "type": "server_error", "param": None, "code": None}},
            status_code=status,
        )

    async def _chat_completions(self, request: Request) -> Response:
        body = await request.json()
        reply = self._next(self._chat, body, "/v1/chat/completions")
        if reply is None:
            return self._error(500, "script exhausted: the test queued no answer for this call")
        await self._pause(reply)
        if reply.status != 200:
            return self._error(reply.status, f"scripted error {reply.status}")
        content = reply.content
        if reply.json is not None:
            content = jsonlib.dumps(reply.json)
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        finish = "stop"
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.get("id", f"call_{next(self._ids)}"),
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": jsonlib.dumps(call.get("arguments", {})),
                    },
                }
                for call in reply.tool_calls
            ]
            finish = "tool_calls"
        completion_id = f"chatcmpl-{next(self._ids)}"
        usage = {**reply.usage, "total_tokens": sum(reply.usage.values())}
        if body.get("stream"):
            return self._stream(
                completion_id, body.get("model", "scripted"), message, finish, usage
            )
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [
                    {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                ],
                "usage": usage,
            }
        )

    @staticmethod
    def _stream(
        completion_id: str, model: str, message: dict[str, Any], finish: str, usage: dict[str, int]
    ) -> StreamingResponse:
        def chunk(delta: dict[str, Any], reason: str | None) -> str:
            payload = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            }
            return f"data: {jsonlib.dumps(payload)}\n\n"

        async def events() -> Any:
            yield chunk({"role": "assistant", "content": ""}, None)
            if message.get("content"):
                yield chunk({"content": message["content"]}, None)
            for index, call in enumerate(message.get("tool_calls") or []):
                yield chunk({"tool_calls": [{"index": index, **call}]}, None)
            yield chunk({}, finish)
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _transcription(self, request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        audio = b"" if upload is None or isinstance(upload, str) else await upload.read()
        fields = {key: value for key, value in form.items() if key != "file"}
        body = {
            **fields, "file_bytes": len(audio), "filename": getattr(upload, "filename", None),
            "content_type": getattr(upload, "content_type", None), "file": audio,
        }
        reply = self._next(self._transcriptions, body, "/v1/audio/transcriptions")
        if reply is None and self.transcriber is not None:
            reply = self.transcriber(body)
        if reply is None:
            return self._error(500, "script exhausted: the test queued no transcription")
        await self._pause(reply)
        if reply.status != 200:
            return self._error(reply.status, f"scripted error {reply.status}")
        if fields.get("response_format") == "text":
            return Response(reply.text or "", media_type="text/plain")
        return JSONResponse({"text": reply.text or ""})

    async def _speech_endpoint(self, request: Request) -> Response:
        body = await request.json()
        reply = self._next(self._speech, body, "/v1/audio/speech")
        if reply is None:
            reply = Reply(audio=DEFAULT_SPEECH)
        await self._pause(reply)
        if reply.status != 200:
            return self._error(reply.status, f"scripted error {reply.status}")
        return Response(reply.audio or DEFAULT_SPEECH, media_type="audio/mpeg")

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})
