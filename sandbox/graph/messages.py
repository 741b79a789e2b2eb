"""Handlers for sending messages and for media (upload, read, delete)."""

from typing import Any

from sandbox.graph.access import waba_for
from sandbox.graph.errors import invalid_parameter
from sandbox.graph.nodes import render
from sandbox.graph.request import GraphRequest
from sandbox.models import SandboxMedia, SandboxPhoneNumber
from sandbox.services import media as media_service
from sandbox.services.messages import message_send

MEDIA_DEFAULT_FIELDS = ["url", "mime_type", "sha256", "file_size", "id", "messaging_product"]


def send(req: GraphRequest, phone: SandboxPhoneNumber) -> dict[str, Any]:
    waba_for(req, phone.waba)
    params = dict(req.params)
    params.pop("access_token", None)
    for key in (
        "text",
        "template",
        "interactive",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "reaction",
    ):
        if isinstance(params.get(key), str):
            params[key] = req.json_param(key)
    return message_send(phone=phone, params=params, version=req.version)


def media_upload(req: GraphRequest, phone: SandboxPhoneNumber) -> dict[str, Any]:
    waba_for(req, phone.waba)
    if req.str_param("messaging_product") != "whatsapp":
        raise invalid_parameter("The parameter messaging_product is required")
    upload = req.files.get("file")
    if upload is None:
        raise invalid_parameter("The parameter file is required")
    if upload.size > media_service.MAX_BYTES:
        raise invalid_parameter("The file is too large")
    mime_type = req.str_param("type") or upload.content_type or "application/octet-stream"
    created = media_service.media_create(
        phone=phone, content=upload.read(), mime_type=mime_type, filename=upload.name or ""
    )
    return {"id": created.media_id}


def media_get(req: GraphRequest, media: SandboxMedia) -> dict[str, Any]:
    waba_for(req, media.phone_number.waba)
    phone_number_id = req.str_param("phone_number_id")
    if phone_number_id and phone_number_id != media.phone_number.phone_number_id:
        raise invalid_parameter("The media does not belong to this phone number")
    origin = f"{req.http.scheme}://{req.http.get_host()}"
    fields = {
        "url": lambda: media_service.media_download_url(media=media, origin=origin),
        "mime_type": lambda: media.mime_type,
        "sha256": lambda: media.sha256,
        "file_size": lambda: media.file_size,
        "id": lambda: media.media_id,
        "messaging_product": lambda: "whatsapp",
    }
    return render("media", fields, req.fields(), MEDIA_DEFAULT_FIELDS)


def media_delete(req: GraphRequest, media: SandboxMedia) -> dict[str, Any]:
    waba_for(req, media.phone_number.waba)
    media_service.media_delete(media=media)
    return {"success": True}
