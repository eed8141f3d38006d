"""JSON exactly as the real agent needs it."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer

from pyfarm_site.conf import farm_config


class FarmJSONRenderer(JSONRenderer):
    """``Content-Type: application/json`` with no charset, pretty when configured.

    The agent's job type download insists on the bare media type; a
    ``; charset=utf-8`` suffix makes it fail the task.
    """

    media_type = "application/json"
    charset = None

    def get_indent(self, accepted_media_type: str, renderer_context: Any) -> int | None:
        """Indent by 4 with ``pretty_json``, else as the client asked."""
        if farm_config("pretty_json"):
            return 4
        return super().get_indent(accepted_media_type, renderer_context)
