"""What both fast-path test modules send: requests the agent never sends.

`farm.api.agent_fast_path` answers only the agent's own requests; each of
these must go to the DRF view instead (heartbeats and task reports alike).
"""

from __future__ import annotations

import pytest
from django.conf import settings

#: Request options that take an agent's request off the fast path.
NOT_THE_AGENTS_REQUEST = pytest.mark.parametrize(
    "extra",
    [
        {"HTTP_AUTHORIZATION": "Token nonsense"},
        {"HTTP_ACCEPT": "text/html"},
        {"HTTP_ACCEPT": "application/json; indent=4"},
        {"QUERY_STRING": "x=1"},
        {"HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}=abc"},
    ],
    ids=["token", "html", "indent", "query", "cookie"],
)
