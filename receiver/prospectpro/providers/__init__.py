"""External enrichment providers: Google Places, the lead's own website, and Hunter.io.

The receiver calls ``stage1``, ``stage2`` and ``stage3`` (see
prospectpro.providers.stages) with its shared ``httpx.AsyncClient`` and
``ProviderConfig.from_env()``.
"""

from .calls import Call, ProviderError, StageResult
from .config import ProviderConfig
from .stages import stage1, stage2, stage3

__all__ = [
    "Call",
    "ProviderConfig",
    "ProviderError",
    "StageResult",
    "stage1",
    "stage2",
    "stage3",
]
