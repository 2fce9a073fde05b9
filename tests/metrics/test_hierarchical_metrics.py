"""Dendrogram purity / leaf purity on hand-made trees, and the cluster-tree plot."""

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from pyagc.metrics import dendrogram_purity, leaf_purity  # noqa: E402
from pyagc.utils.tree_plot import plot_cluster_tree, tree_layout  # noqa: E402

# root 0 -> (1, 2); 1 -> (3, 4); leaves 2, 3, 4
PARENT = np.array([-1, 0, 0, 1, 1])
ASSIGN = np.array([3, 3, 4, 4, 2, 2])
Y = np.array(["a", "a", "a", "b", "b", "b"])


def test_dendrogram_purity_by_hand():
    # class a: (a1,a2) in leaf 3 -> purity 1; (a1,a3), (a2,a3) meet at node 1 = {a,a,a,b} -> 3/4
    # class b: (b2,b3) in leaf 2 -> 1; (b1,b2), (b1,b3) meet at the root = 3 of 6 -> 1/2
    expected = (1 + 0.75 + 0.75 + 1 + 0.5 + 0.5) / 6
    assert dendrogram_purity(Y, ASSIGN, PARENT) == pytest.approx(expected)
    assert expected == pytest.approx(0.75)


def test_leaf_purity_by_hand():
    assert leaf_purity(Y, ASSIGN) == pytest.approx((2 + 1 + 2) / 6)


def test_pure_tree_has_purity_one_and_flat_tree_has_class_share():
    y = np.array([0, 0, 1, 1])
    assert dendrogram_purity(y, np.array([1, 1, 2, 2]), np.array([-1, 0, 0])) == 1.0
    # everything in one leaf: every pair's LCA is that leaf, purity = class share 1/2
    assert dendrogram_purity(y, np.zeros(4, int), np.array([-1])) == pytest.approx(0.5)
    assert leaf_purity(y, np.zeros(4, int)) == pytest.approx(0.5)


def brute_force_dp(y, assign, parent):
    def path(v):
        out = [v]
        while parent[out[-1]] >= 0:
            out.append(parent[out[-1]])
        return out

    def subtree_points(v):
        return [i for i in range(len(y)) if v in path(assign[i])]

    vals = []
    for i, j in itertools.combinations(range(len(y)), 2):
        if y[i] != y[j]:
            continue
        pi = path(assign[i])
        lca = next(v for v in path(assign[j]) if v in pi)
        pts = subtree_points(lca)
        vals.append(np.mean([y[k] == y[i] for k in pts]))
    return float(np.mean(vals))


def test_dendrogram_purity_matches_brute_force_on_a_random_tree():
    rng = np.random.default_rng(0)
    parent = [-1]
    for v in range(1, 15):  # a random binary-ish tree: attach each node under an earlier one
        parent.append(int(rng.integers(0, v)))
    parent = np.array(parent)
    y = rng.integers(0, 3, size=40)
    assign = rng.integers(0, 15, size=40)  # points at leaves and inner nodes alike
    assert dendrogram_purity(y, assign, parent) == pytest.approx(brute_force_dp(y, assign, parent))


def test_bad_trees_are_rejected():
    with pytest.raises(ValueError, match="exactly one root"):
        dendrogram_purity(Y, ASSIGN, np.array([-1, -1, 0, 1, 1]))
    with pytest.raises(ValueError, match="differ in length"):
        dendrogram_purity(Y[:3], ASSIGN, PARENT)
    with pytest.raises(ValueError, match="node ids"):
        dendrogram_purity(Y, ASSIGN + 10, PARENT)
    with pytest.raises(ValueError, match="cycle"):
        dendrogram_purity(Y, ASSIGN, np.array([-1, 2, 1, 1, 1]))


def test_tree_layout_centres_parents_over_children():
    x, depth, children = tree_layout(PARENT)
    assert depth.tolist() == [0, 1, 1, 2, 2]
    assert x[1] == pytest.approx((x[3] + x[4]) / 2) and x[0] == pytest.approx((x[1] + x[2]) / 2)
    assert sorted(children[0]) == [1, 2]


def test_tree_plot_renders_png(tmp_path):
    fig = plot_cluster_tree(PARENT, ASSIGN, Y, title="hand-made tree")
    assert isinstance(fig, Figure)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "n=6\na (50%)" in texts and "n=2\na (100%)" in texts  # root and leaf 3
    path = tmp_path / "tree.png"
    fig.savefig(path, dpi=60)
    plt.close(fig)
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.std() > 0.01  # not a blank canvas
