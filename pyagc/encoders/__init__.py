"""Encoders: map a batch to embeddings ``z (N, F)``; autoencoders also ``decode``."""

from pyagc.encoders.base import Autoencoder, make_activation
from pyagc.encoders.conv_autoencoder import ConvAutoencoder
from pyagc.encoders.gcn import GCN
from pyagc.encoders.mlp_autoencoder import MLPAutoencoder
from pyagc.encoders.propagation_gcn import PropagationGCN
from pyagc.encoders.resnet import ResNetEncoder

__all__ = [
    "Autoencoder",
    "MLPAutoencoder",
    "ConvAutoencoder",
    "ResNetEncoder",
    "GCN",
    "PropagationGCN",
    "make_activation",
]
