from pyagc.clusters import BaseClusterHead
import torch.nn as nn

class BaseClusterHead(nn.Module):
    def forward(self, *args, **kwargs):
        """Compute clustering loss for training"""
        raise NotImplementedError

    def cluster(self, z, soft=False):
        """
        Generate cluster assignments

        Args:
            z: Node embeddings (N, F)
            soft: If True, return probabilities; if False, return hard labels

        Returns:
            Cluster assignments (N,) or probabilities (N, K)
        """
        raise NotImplementedError
