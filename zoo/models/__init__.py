"""Model definitions: plain ``nn.Module``s, registered by name (importing this package registers them)."""

from zoo.models import alexnet, language_model, lenet, mlp, resnet, sequence, vgg  # noqa: F401  (registration side effect)
from zoo.models import autoencoder, conv_autoencoder, encoder_classifier, vae  # noqa: F401
from zoo.models import word2vec  # noqa: F401
