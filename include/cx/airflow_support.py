"""Former home of the DAG helpers, now the package cx.orchestration: kept importable
for code written against it."""

from cx.orchestration import *  # noqa: F403
from cx.orchestration import __all__  # noqa: F401
from cx.orchestration.defaults import map_errors as no_retry  # noqa: F401  (its former name)
