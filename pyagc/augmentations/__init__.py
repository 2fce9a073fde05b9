"""Data augmentations (stochastic views) for contrastive objectives."""

from pyagc.augmentations.graph import EdgeDropping, FeatureMasking, drop_edges, mask_features

__all__ = ["FeatureMasking", "EdgeDropping", "mask_features", "drop_edges"]
