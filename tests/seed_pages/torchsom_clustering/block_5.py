import torch
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from pyagc.som import SOM, SOMVisualizer

X, _ = make_blobs(n_samples=1000, centers=4, n_features=5, random_state=42)
data = torch.tensor(StandardScaler().fit_transform(X), dtype=torch.float32)

som = SOM(x=25, y=15, num_features=5, epochs=100, batch_size=16,
          topology="hexagonal", initialization_mode="pca", random_seed=42)
som.initialize_weights(data=data, mode=som.initialization_mode)
som.fit(data=data)

viz = SOMVisualizer(som=som)
viz.plot_elbow_analysis(max_k=10, feature_space="weights")     # pick k
result = som.cluster(method="kmeans", n_clusters=4, feature_space="weights")
viz.plot_cluster_map(cluster_result=result)
