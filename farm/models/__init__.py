"""The farm's models, one module per aggregate, re-exported here."""

from farm.models.agents import *  # noqa: F403
from farm.models.jobs import *  # noqa: F403
from farm.models.jobtypes import *  # noqa: F403
from farm.models.logs import *  # noqa: F403
from farm.models.queues import *  # noqa: F403
from farm.models.software import *  # noqa: F403
from farm.models.statistics import *  # noqa: F403
from farm.models.tags import *  # noqa: F403
from farm.models.tasks import *  # noqa: F403
