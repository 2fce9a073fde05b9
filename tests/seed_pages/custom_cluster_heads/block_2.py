import torch
import torch.nn as nn
from pyagc.clusters import BaseClusterHead

class SimpleClusterHead(BaseClusterHead):
    def __init__(self, n_clusters, n_features):
        super().__init__()
        self.n_clusters = n_clusters
        self.n_features = n_features

        # Learnable cluster centers
        self.cluster_centers = nn.Parameter(
            torch.empty(n_clusters, n_features)
        )
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.xavier_uniform_(self.cluster_centers)

    def forward(self, z):
        """
        Compute clustering loss as mean squared distance

        Args:
            z: Node embeddings (N, F)

        Returns:
            Scalar loss
        """
        # Compute pairwise distances: (N, K)
        dist = torch.cdist(z, self.cluster_centers, p=2)

        # Assign to nearest cluster
        assignments = dist.argmin(dim=-1)  # (N,)

        # Loss: mean distance to assigned cluster
        loss = dist[torch.arange(len(z)), assignments].mean()

        return loss

    @torch.no_grad()
    def cluster(self, z, soft=False):
        """Generate cluster assignments"""
        dist = torch.cdist(z, self.cluster_centers, p=2)

        if soft:
            # Convert distances to similarities via softmax
            sim = -dist  # Negate so smaller distance = higher similarity
            return torch.softmax(sim, dim=-1)
        else:
            return dist.argmin(dim=-1)
