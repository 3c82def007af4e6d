"""Routes of OpenComputer cloud features the local server does not offer; each answers 501.

OpenComputer's own SDK calls these paths; answering with one sentence that
names the feature (rather than a bare 404) tells a user moving code between
the cloud and this server why the call failed and where it works.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..errors import ApiError
from ..models import ErrorBody

__all__ = ["FEATURES", "CloudOnly", "refuse_cloud_fields", "router"]

_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]

#: Feature name -> the paths (under /api) OpenComputer serves it on.
FEATURES: dict[str, list[str]] = {
    "Secret stores": ["/secret-stores", "/secret-stores/{rest:path}", "/sandboxes/{sandbox_id}/allowed-hosts"],
    "Mounting remote storage": ["/sandboxes/{sandbox_id}/mounts", "/sandboxes/{sandbox_id}/mounts/{rest:path}"],
    "Checkpoint patches": [
        "/sandboxes/checkpoints/{checkpoint_id}/patches",
        "/sandboxes/checkpoints/{checkpoint_id}/patches/{rest:path}",
    ],
    "Autoscale": ["/sandboxes/{sandbox_id}/autoscale"],
    "The scaling lock": ["/sandboxes/{sandbox_id}/scaling-lock"],
    "Tagging": ["/tags", "/tags/{rest:path}", "/sandboxes/{sandbox_id}/tags"],
    "Usage reporting": ["/usage", "/usage/{rest:path}", "/sandboxes/{sandbox_id}/usage"],
    "Webhooks": ["/webhooks", "/webhooks/{rest:path}"],
    "Running agent sessions": ["/sandboxes/{sandbox_id}/agent", "/sandboxes/{sandbox_id}/agent/{rest:path}"],
    "Hosted browsers": [
        "/browsers",
        "/browsers/{rest:path}",
        "/v1/browsers",
        "/v1/browsers/{rest:path}",
        "/v1/profiles",
        "/v1/profiles/{rest:path}",
    ],
    "Publishing": [
        "/publish",
        "/publish/{rest:path}",
        "/sandboxes/{sandbox_id}/publish",
        "/sandboxes/{sandbox_id}/publish/{rest:path}",
    ],
}

# Out of the OpenAPI schema: these paths are OpenComputer's, not part of this server's API.
router = APIRouter(tags=["cloud only"], include_in_schema=False)


def message(feature: str) -> str:
    """The one sentence every route of ``feature`` answers."""
    return (
        f"{feature} {'are' if feature.endswith('s') else 'is'} an OpenComputer cloud feature that the local oc_jupyter server does not offer; "
        "point api_url (or OPENCOMPUTER_API_URL) at the OpenComputer cloud to use it."
    )


class CloudOnly(ApiError):
    """A request needs a feature only the OpenComputer cloud has."""

    status_code = 501


def refuse_cloud_fields(body: object) -> None:
    """Refuse a sandbox create that names a secret store, rather than start a sandbox without its secrets."""
    extra = getattr(body, "model_extra", None) or {}
    if extra.get("secretStore"):
        raise CloudOnly(message("Secret stores"))


def _answer(feature: str) -> Callable[[], Awaitable[JSONResponse]]:
    text = message(feature)

    async def not_offered() -> JSONResponse:
        return JSONResponse({"error": text, "code": "cloud_only"}, status_code=501)

    not_offered.__doc__ = f"{feature}: not offered by the local server (501)."
    return not_offered


for _feature, _paths in FEATURES.items():
    for _path in _paths:
        router.add_api_route(
            _path,
            _answer(_feature),
            methods=_ANY,
            status_code=501,
            name=f"{_feature} ({_path})",
            responses={501: {"model": ErrorBody, "description": "Needs the OpenComputer cloud."}},
        )
