result = som.cluster(method="hdbscan", feature_space="weights")
viz.plot_cluster_map(cluster_result=result)
