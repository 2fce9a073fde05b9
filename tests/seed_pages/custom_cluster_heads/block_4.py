from torch_geometric.utils import degree

class GraphAwareClusterHead(BaseClusterHead):
    def __init__(self, n_clusters, n_features, alpha=1.0):
        super().__init__()
        self.n_clusters = n_clusters
        self.alpha = alpha  # Trade-off parameter

        self.cluster_centers = nn.Parameter(
            torch.empty(n_clusters, n_features)
        )
        nn.init.xavier_uniform_(self.cluster_centers)

    def forward(self, z, edge_index):
        """
        Combine embedding distance with graph structure

        Args:
            z: Node embeddings (N, F)
            edge_index: Graph edges (2, E)

        Returns:
            Scalar loss
        """
        N = z.size(0)

        # Soft assignment matrix
        S = torch.matmul(z, self.cluster_centers.t())  # (N, K)
        S = torch.softmax(S, dim=-1)

        # Embedding loss: distance to assigned cluster
        dist = torch.cdist(z, self.cluster_centers, p=2)
        assignments = S.argmax(dim=-1)
        embed_loss = dist[torch.arange(N), assignments].mean()

        # Structure loss: edge homogeneity
        # Edges should connect nodes in the same cluster
        src, dst = edge_index
        structure_loss = -torch.sum(S[src] * S[dst]) / edge_index.size(1)

        # Combined loss
        loss = embed_loss + self.alpha * structure_loss

        return loss

    @torch.no_grad()
    def cluster(self, z, soft=False):
        sim = torch.matmul(z, self.cluster_centers.t())
        if soft:
            return torch.softmax(sim, dim=-1)
        else:
            return sim.argmax(dim=-1)
