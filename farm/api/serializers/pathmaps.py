"""Serializers of the pathmaps API."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework import serializers

from farm.api.fields import NON_BLANK, StrictCharField
from farm.api.serializers.base import StrictSerializerMixin
from farm.models import PathMap, Tag


class PathMapSerializer(serializers.ModelSerializer):
    """A path map; ``tag`` appears only for a map restricted to a tag.

    The original leaves the key out for untagged maps (its documented
    examples show both shapes), and so do we.
    """

    tag = serializers.CharField(source="tag.tag", default=None)

    class Meta:
        model = PathMap
        fields = ["id", "path_linux", "path_windows", "path_osx", "tag"]

    def to_representation(self, instance: PathMap) -> dict[str, Any]:
        """Drop ``tag`` when the map applies to every agent."""
        data = super().to_representation(instance)
        if data.get("tag") is None:
            data.pop("tag", None)
        return data


class PathMapInputSerializer(StrictSerializerMixin, serializers.Serializer):
    """A new path map, or (partial) the columns of one to change.

    An unknown tag is created; ``"tag": null`` makes the map apply to every
    agent.
    """

    path_linux = StrictCharField(trim_whitespace=False, max_length="max_path_length")
    path_windows = StrictCharField(trim_whitespace=False, max_length="max_path_length")
    path_osx = StrictCharField(trim_whitespace=False, max_length="max_path_length")
    tag = StrictCharField(
        required=False,
        allow_null=True,
        trim_whitespace=False,
        max_length="max_tag_length",
        validators=[NON_BLANK],
    )

    def _tag(self, name: str | None) -> Tag | None:
        if name is None:
            return None
        tag = Tag.objects.filter(tag=name).first()
        if tag is None:
            tag = Tag(tag=name)
            tag.full_clean()
            tag.save()
        return tag

    def _save(self, pathmap: PathMap, data: dict[str, Any]) -> PathMap:
        with transaction.atomic():
            if "tag" in data:
                pathmap.tag = self._tag(data.pop("tag"))
            for name, value in data.items():
                setattr(pathmap, name, value)
            pathmap.full_clean()
            pathmap.save()
        return pathmap

    def create(self, validated_data: dict[str, Any]) -> PathMap:
        """Create the map (and its tag when new)."""
        return self._save(PathMap(), dict(validated_data))

    def update(self, instance: PathMap, validated_data: dict[str, Any]) -> PathMap:
        """Change the given columns only."""
        return self._save(instance, dict(validated_data))
