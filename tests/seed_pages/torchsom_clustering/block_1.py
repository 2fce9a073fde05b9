result = som.cluster(
    method="kmeans",          # "kmeans", "gmm", or "hdbscan"
    n_clusters=4,             # ignored by HDBSCAN, which finds k itself
    feature_space="weights",  # "weights", "positions", or "combined"
)
