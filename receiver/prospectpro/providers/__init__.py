"""External enrichment providers: Google Places, the lead's own website, and Hunter.io.

The receiver calls ``stage1``, ``stage2`` and ``stage3`` (see
prospectpro.providers.stages) with its shared ``client()`` (httpx over
prospectpro.providers.provider_transport) and ``ProviderConfig.from_env()``.
"""

from .calls import Call, ProviderError, StageResult
from .config import ProviderConfig
from .provider_transport import client
from .stages import stage1, stage2, stage3

__all__ = [
    "Call",
    "ProviderConfig",
    "ProviderError",
    "StageResult",
    "client",
    "stage1",
    "stage2",
    "stage3",
]
