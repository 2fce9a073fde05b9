import torch
from torch_geometric.data import Data
from pyagc.data import get_dataset
from pyagc.encoders import GCN
from pyagc.models import ClusteringModel

# Load dataset
x, edge_index, y = get_dataset('Cora')
data = Data(x=x, edge_index=edge_index)

# Create model
encoder = GCN(in_channels=x.size(1), hidden_channels=64, num_layers=2)
cluster_head = GraphAwareClusterHead(n_clusters=7, n_features=64)

# Simple wrapper model
class MyClusteringModel(ClusteringModel):
    def __init__(self, encoder, cluster_head):
        super().__init__()
        self.encoder = encoder
        self.cluster_head = cluster_head

    def forward(self, data):
        z = self.encoder(data.x, data.edge_index)
        loss = self.cluster_head(z, data.edge_index)
        return loss

    def infer_full(self, data):
        z = self.encoder(data.x, data.edge_index)
        return self.cluster_head.cluster(z, soft=False)

model = MyClusteringModel(encoder, cluster_head)

# Training loop
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

for epoch in range(100):
    model.train()
    optimizer.zero_grad()

    loss = model(data)
    loss.backward()
    optimizer.step()

    if epoch % 10 == 0:
        print(f'Epoch {epoch:03d}, Loss: {loss.item():.4f}')

# Inference
model.eval()
pred = model.infer_full(data)
print(f'Predicted clusters: {pred}')
