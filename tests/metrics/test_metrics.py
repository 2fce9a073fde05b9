import numpy as np
import pytest
import torch

from pyagc.metrics import (
    ari,
    clustering_accuracy,
    conductance,
    external_metrics,
    internal_metrics,
    matched_f1,
    modularity,
    nmi,
)


def test_accuracy_is_invariant_to_cluster_names():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert clustering_accuracy(y, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    assert clustering_accuracy(y, np.array([0, 0, 0, 1, 2, 2])) == pytest.approx(5 / 6)
    assert matched_f1(y, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    assert nmi(torch.tensor(y), torch.tensor([1, 1, 0, 0, 2, 2])) == pytest.approx(1.0)
    assert ari(y, np.zeros(6)) == pytest.approx(0.0)


def test_accuracy_with_more_clusters_than_classes():
    y = np.array([0, 0, 0, 1, 1, 1])
    pred = np.array([0, 0, 1, 2, 2, 2])
    assert clustering_accuracy(y, pred) == pytest.approx(5 / 6)
    m = external_metrics(y, pred)
    assert set(m) == {"acc", "nmi", "ari", "f1"}


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in length"):
        clustering_accuracy([0, 1], [0, 1, 1])


def test_internal_metrics_prefer_separated_clusters():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 0.1, (50, 2)), rng.normal(5, 0.1, (50, 2))])
    good = internal_metrics(z, np.repeat([0, 1], 50))
    bad = internal_metrics(z, rng.integers(0, 2, 100))
    assert good["silhouette"] > 0.9 > bad["silhouette"]
    assert good["davies_bouldin"] < bad["davies_bouldin"]
    assert good["calinski_harabasz"] > bad["calinski_harabasz"]


def test_modularity_and_conductance_match_networkx():
    import networkx as nx
    from networkx.algorithms.community import modularity as nx_modularity

    g = nx.karate_club_graph()
    edges = np.array(list(g.edges())).T
    edge_index = np.concatenate([edges, edges[::-1]], 1)  # both directions, as PyG stores it
    labels = np.array([0 if g.nodes[n]["club"] == "Mr. Hi" else 1 for n in g.nodes])
    comms = [set(np.flatnonzero(labels == c)) for c in (0, 1)]
    assert modularity(edge_index, labels) == pytest.approx(nx_modularity(g, comms, weight=None))
    expected = np.mean([nx.conductance(g, c) for c in comms])
    assert conductance(edge_index, labels) == pytest.approx(expected)
