from pyagc.clusters import DECClusterHead

# Our simple cluster head
simple_head = SimpleClusterHead(n_clusters=7, n_features=64)

# PyAGC's DEC cluster head
dec_head = DECClusterHead(n_clusters=7, n_features=64, alpha=1.0)

# Both can be used interchangeably
z = torch.randn(100, 64)  # Random embeddings

# Compute loss
loss_simple = simple_head(z)
loss_dec = dec_head(z)

# Get predictions
pred_simple = simple_head.cluster(z, soft=False)
pred_dec = dec_head.cluster(z, soft=False)

print(f'Simple loss: {loss_simple:.4f}, DEC loss: {loss_dec:.4f}')
