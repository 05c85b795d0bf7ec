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

from properties import msix as _msix  # noqa: E402,F401
from properties import guest as _guest  # noqa: E402,F401
from properties.msix import MSIX_ASSUMPTION_TEXT as _MSIX_TEXT  # noqa: E402
from properties.guest import GUEST_ASSUMPTION_TEXT as _GUEST_TEXT  # noqa: E402
from properties.record import RECORD_PROPERTIES  # noqa: E402

ASSUMPTION_TEXT.update(_MSIX_TEXT)
ASSUMPTION_TEXT.update(_GUEST_TEXT)
__all__.append("RECORD_PROPERTIES")
