"""Data augmentations (stochastic views) for contrastive and augmentation-invariant objectives."""

from pyagc.augmentations.affine import RandomAffine
from pyagc.augmentations.graph import EdgeDropping, FeatureMasking, drop_edges, mask_features
from pyagc.augmentations.images import ImageAugmentation
from pyagc.augmentations.tabular import GaussianNoise, RandomFeatureMasking, TabularAugmentation

__all__ = [
    "FeatureMasking",
    "EdgeDropping",
    "mask_features",
    "drop_edges",
    "ImageAugmentation",
    "RandomAffine",
    "TabularAugmentation",
    "GaussianNoise",
    "RandomFeatureMasking",
]
