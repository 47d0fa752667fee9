"""The API's own documentation pages (/docs, Swagger UI; /redoc, ReDoc), served from this
server by fastapi-offline, with a Content-Security-Policy that lets them load nothing from
elsewhere: ReDoc's bundle otherwise fetches the Redocly logo from a CDN, which tells a third
party who reads the docs, and fails where the server has no way out."""

from __future__ import annotations

from typing import Any

PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
# Swagger UI starts from an inline script, ReDoc runs a worker from a blob: URL and inlines its styles
POLICY = (b"default-src 'none'; script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
          b"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
          b"frame-ancestors 'none'; base-uri 'none'")


class DocsPolicy:
    """ASGI middleware: the policy above on the documentation pages, nothing on other paths."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"content-security-policy", POLICY)]
            await send(message)

        await self.app(scope, receive, with_policy)


def document(app: Any) -> dict[str, Any]:
    """The OpenAPI document as FastAPI makes it, with the models that only JSON lines carry
    (and so no route's response_model names) added to its components."""
    if app.openapi_schema:
        return dict(app.openapi_schema)
    from optout.http.lookups import LineError

    schema: dict[str, Any] = type(app).openapi(app)  # FastAPI's own, which it keeps in app.openapi_schema
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["LineError"] = LineError.model_json_schema(ref_template="#/components/schemas/{model}")
    return schema
