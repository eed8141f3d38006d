"""What ``OPTIONS`` answers on every endpoint of the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.metadata import BaseMetadata

if TYPE_CHECKING:
    # Imported by DRF's settings while rest_framework.views loads.
    from rest_framework.request import Request
    from rest_framework.views import APIView


class FarmMetadata(BaseMetadata):
    """The view's name, description and media types; the methods in ``Allow``.

    DRF's default (``SimpleMetadata``) also describes the PUT and POST
    bodies, building the view's serializer and, for PUT, looking up the
    object the URL names, with the permission checks of a write. Our views
    take names from URLs in their own ways, so that lookup failed (500) on
    ``/tags/<x>``, ``/jobtypes/<x>`` and ``/software/<x>``, and it would run
    queries with whatever the URL holds. The bodies are described, exactly,
    by the OpenAPI schema (``openapi.json``) instead.
    """

    def determine_metadata(self, request: Request, view: APIView) -> dict[str, Any]:
        """Name, description and media types of the view; nothing is looked up."""
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }
