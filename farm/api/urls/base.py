"""Shared URL helpers of the API areas."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path


def legacy_paths(
    route: str, view: Any, name: str, *, actions: dict[str, str] | None = None
) -> list[URLPattern]:
    """The documented ``route`` and its other trailing-slash spelling.

    Both spellings answer, since the original's clients use either; only the
    documented one is named and described in the OpenAPI schema, so that
    each operation appears once. ``actions`` binds a view set's methods.
    """
    other = route.removesuffix("/") if route.endswith("/") else f"{route}/"

    def bind(**initkwargs: Any) -> Any:
        if actions is None:
            return view.as_view(**initkwargs)
        return view.as_view(actions, **initkwargs)

    return [path(route, bind(), name=name), path(other, bind(schema=None))]
