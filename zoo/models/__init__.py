"""Model definitions: plain ``nn.Module``s, registered by name with ``zoo.registry.register_model``.

Importing this package imports every module in it, so a new model is one file here (its builder
decorated with ``@register_model(task=...)``) plus its config in ``configs/model/``.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
