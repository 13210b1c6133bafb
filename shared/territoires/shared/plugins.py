"""Indicator plug-ins: modules named in TERRITOIRES_PLUGINS, imported once by every service
and worker (pygeoapi's plugin shape). A plug-in module registers its indicators in the registry
when imported (`territoires.shared.indicators.register`) and may offer a process (`PROCESS`),
which the compute service and its workers install."""

from __future__ import annotations

import importlib
from types import ModuleType

from territoires.shared.settings import ConfigurationError, Settings


def load_plugins(settings: Settings) -> list[ModuleType]:
    modules = []
    for name in settings.plugins:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as error:
            raise ConfigurationError(
                f"TERRITOIRES_PLUGINS names {name!r}, which cannot be imported: {error}"
            ) from None
    return modules
