"""genregistry: one worker per id, looked up or started on demand.

Re-exports `GenRegistry`, the legacy `Spec` helper and the `Behaviour` Protocol.
"""

from genregistry.behaviour import Behaviour
from genregistry.registry import GenRegistry
from genregistry.spec import Spec

__all__ = ["Behaviour", "GenRegistry", "Spec"]
