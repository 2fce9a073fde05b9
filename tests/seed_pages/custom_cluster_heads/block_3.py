from pyagc.models import DMoN
from pyagc.encoders import GCN

# Create encoder
encoder = GCN(
    in_channels=dataset.num_features,
    hidden_channels=64,
    num_layers=2,
)

# Create model with custom cluster head
model = DMoN(
    encoder=encoder,
    n_features=64,
    n_clusters=7
)

# Replace the default cluster head
model.cluster_head = SimpleClusterHead(
    n_clusters=7,
    n_features=64
)
