"""Authentication that honours the farm's account expiration and roles."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend


class FarmUserBackend(ModelBackend):
    """Django's model backend, refusing expired users and users of disabled roles."""

    def user_can_authenticate(self, user: Any) -> bool:
        """Only users whose account and roles are all active may log in."""
        can_log_in = getattr(user, "can_log_in", None)
        if can_log_in is None:
            return super().user_can_authenticate(user)
        return bool(can_log_in())
