from pyagc.som import SOMVisualizer

viz = SOMVisualizer(som=som)

# Elbow: within-cluster dispersion vs k; look for the bend
viz.plot_elbow_analysis(max_k=10, feature_space="weights")

# Silhouette: how cleanly points sit in their cluster (higher is better)
result = som.cluster(method="kmeans", n_clusters=4, feature_space="weights")
viz.plot_silhouette_analysis(cluster_result=result)
