"""What must hold: the property registry.  Imports `model`, never the checker or z3."""

from properties import core as _core  # noqa: F401  (registers the properties)
from properties import alignment as _alignment  # noqa: F401
from properties.registry import REGISTRY, Evaluation, Property, UnknownProperty, get_property
from properties.situation import ASSUMPTION_TEXT

__all__ = ["ASSUMPTION_TEXT", "REGISTRY", "Evaluation", "Property", "UnknownProperty", "get_property"]

from properties.trace import TRACE_ASSUMPTION_TEXT as _TRACE_TEXT  # noqa: E402

ASSUMPTION_TEXT.update(_TRACE_TEXT)

from properties.revoke import VMA_ASSUMPTION_TEXT as _VMA_TEXT  # noqa: E402

ASSUMPTION_TEXT.update(_VMA_TEXT)
