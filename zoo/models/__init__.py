"""Model definitions: plain ``nn.Module``s, registered by name (importing this package registers them)."""

from zoo.models import lenet, mlp  # noqa: F401  (registration side effect)
