"""Writing your own cluster head: the public PyAGC tutorial's code as written, then what pyagc adds.

    python tutorials/custom_head.py [OUTPUT_DIR]

Part A runs the code of the tutorial "Creating Custom Cluster Heads" block by block, unchanged:
the ``BaseClusterHead`` interface, ``SimpleClusterHead``, swapping it into ``DMoN``, the graph-aware head,
a plain training loop with ``ClusteringModel``, and the comparison with ``DECClusterHead``.

Part B shows what pyagc adds to that contract:

1. context by signature: ``forward(self, z)``, ``forward(self, z, edge_index)``, ``forward(self, z, x, x_hat)``
   or ``forward(self, z, **context)`` -- each head receives exactly what it names;
2. ``LossOutput`` for losses with several logged terms, and the lifecycle hooks ``initialize`` /
   ``refresh`` / ``finalize``;
3. training a head with the Lightning ``Trainer`` inside a preset (``model.cluster_head = ...``);
4. the same head from the command line (``head._target_=...``), and a comparison with DEC.

Cora is read from the local Planetoid files (``$PYAGC_DATA`` or ``../shared/data``); without them the
tutorial uses the KarateClub graph bundled with torch-geometric.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from pyagc.clusters import BaseClusterHead, DECClusterHead, LossOutput, kmeans
from pyagc.clusters.base import KNOWN_CONTEXT
from pyagc.data import GraphDataModule, get_dataset
from pyagc.metrics import external_metrics, modularity
from pyagc.models import DMoN

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pyagc_custom_head_"))
out.mkdir(parents=True, exist_ok=True)
pl.seed_everything(0, verbose=False)
torch.set_num_threads(min(2, os.cpu_count() or 1))

try:
    get_dataset("Cora")
    GRAPH = "Cora"
except FileNotFoundError:
    GRAPH = "KarateClub"
x_all, edge_index_all, y_all = get_dataset(GRAPH)
dataset = Data(x=x_all, edge_index=edge_index_all)  # the page uses `dataset` without defining it
print(f"{GRAPH}: {x_all.shape[0]} nodes, {edge_index_all.shape[1]} directed edges, {x_all.shape[1]} features")

# ==================================================================================================
# Part A -- the tutorial's code, block by block, as written
# ==================================================================================================

# --- The BaseClusterHead Interface (the page shows the contract; pyagc's class is imported again below)
from pyagc.clusters import BaseClusterHead
import torch.nn as nn

class BaseClusterHead(nn.Module):
    def forward(self, *args, **kwargs):
        """Compute clustering loss for training"""
        raise NotImplementedError

    def cluster(self, z, soft=False):
        """
        Generate cluster assignments

        Args:
            z: Node embeddings (N, F)
            soft: If True, return probabilities; if False, return hard labels

        Returns:
            Cluster assignments (N,) or probabilities (N, K)
        """
        raise NotImplementedError


# --- Example 1: Implementing a Simple Distance-Based Cluster Head
import torch
import torch.nn as nn
from pyagc.clusters import BaseClusterHead

class SimpleClusterHead(BaseClusterHead):
    def __init__(self, n_clusters, n_features):
        super().__init__()
        self.n_clusters = n_clusters
        self.n_features = n_features

        # Learnable cluster centers
        self.cluster_centers = nn.Parameter(
            torch.empty(n_clusters, n_features)
        )
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.xavier_uniform_(self.cluster_centers)

    def forward(self, z):
        """
        Compute clustering loss as mean squared distance

        Args:
            z: Node embeddings (N, F)

        Returns:
            Scalar loss
        """
        # Compute pairwise distances: (N, K)
        dist = torch.cdist(z, self.cluster_centers, p=2)

        # Assign to nearest cluster
        assignments = dist.argmin(dim=-1)  # (N,)

        # Loss: mean distance to assigned cluster
        loss = dist[torch.arange(len(z)), assignments].mean()

        return loss

    @torch.no_grad()
    def cluster(self, z, soft=False):
        """Generate cluster assignments"""
        dist = torch.cdist(z, self.cluster_centers, p=2)

        if soft:
            # Convert distances to similarities via softmax
            sim = -dist  # Negate so smaller distance = higher similarity
            return torch.softmax(sim, dim=-1)
        else:
            return dist.argmin(dim=-1)


# --- Example 2: Integrating with the DMoN Model
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


# --- Example 3: Creating a Graph-Aware Cluster Head
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


# --- Example 4: Using Custom Cluster Head in Training
# (without the Cora files this block reads KarateClub: the only line that differs)
import pyagc.data  # noqa: E402

_real_get_dataset = pyagc.data.get_dataset
if GRAPH != "Cora":  # the block imports get_dataset itself, so the stand-in goes where it imports from
    pyagc.data.get_dataset = lambda name, root=None: _real_get_dataset("KarateClub")
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


# --- Comparing with Existing Implementations
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


# ==================================================================================================
# Part B -- what pyagc adds
# ==================================================================================================
pyagc.data.get_dataset = _real_get_dataset  # the real one again

x, edge_index, y = x_all, edge_index_all, y_all
K = int(y.max()) + 1

# --- 1. context by signature ------------------------------------------------------------------------
# A head receives exactly the context its forward() names (read once per class, as torch-geometric reads
# MessagePassing.message); **context receives all of it. A parameter without a default is required: pyagc
# refuses to train such a head on data that cannot give it, before training starts.
print("B1. context a head can name:", ", ".join(KNOWN_CONTEXT))
print("    SimpleClusterHead needs:", sorted(SimpleClusterHead(n_clusters=2, n_features=2).context_names) or "only z",
      "| GraphAwareClusterHead requires:", sorted(GraphAwareClusterHead(2, 2).required_context),
      "-> requires_graph =", GraphAwareClusterHead.requires_graph)


# --- 2. LossOutput and the lifecycle hooks ----------------------------------------------------------
class CentroidHead(BaseClusterHead):
    r"""Learnable centres on the unit sphere, trained by information maximisation (Krause et al. 2010):

    .. math::
        q_{ik} = \operatorname{softmax}_k\big(\cos(\mathbf z_i, \boldsymbol\mu_k)/\tau\big), \qquad
        \mathcal L = \underbrace{\tfrac1N\textstyle\sum_i H(q_{i\cdot})}_{\text{confident}}
                    - \underbrace{H\big(\tfrac1N\textstyle\sum_i q_{i\cdot}\big)}_{\text{balanced}}

    Cosine similarity makes the loss blind to the scale of z, and the balance term stops every node
    from going to one centre: the two ways a centroid loss (like the page's SimpleClusterHead) collapses.
    """

    requires_initialization = True  # initialize(z_all) runs before training (or on first use, with a warning)

    def __init__(self, n_clusters: int, n_features: int, temperature: float = 0.1) -> None:
        super().__init__(n_clusters)
        self.n_features = n_features  # lets pyagc check the encoder's embedding size
        self.temperature = temperature
        self.centers = nn.Parameter(torch.randn(n_clusters, n_features))  # a Parameter: checkpointed

    @torch.no_grad()
    def initialize(self, z: Tensor, **context) -> None:
        self.centers.copy_(kmeans(F.normalize(z, dim=1), self.n_clusters, n_init=5).centers)

    def soft(self, z: Tensor) -> Tensor:
        sim = F.normalize(z, dim=1) @ F.normalize(self.centers, dim=1).T
        return torch.softmax(sim / self.temperature, dim=1)

    def forward(self, z: Tensor) -> LossOutput:
        q = self.soft(z)
        confident = -(q * q.clamp_min(1e-12).log()).sum(1).mean()
        mean_q = q.mean(0)
        balance = -(mean_q * mean_q.clamp_min(1e-12).log()).sum()
        return LossOutput(confident - balance, {"confident": confident, "balance": balance})  # each term logged

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        q = self.soft(z)
        return q if soft else q.argmax(1)


class SmoothCentroidHead(CentroidHead):
    r"""CentroidHead plus graph smoothness: linked nodes should get similar assignments,
    :math:`\mathcal L = \mathcal L_{\text{centroid}} + \beta \frac{1}{|E|}\sum_{(i,j)\in E}\lVert q_i - q_j\rVert^2`.
    Naming ``edge_index`` without a default is all it takes to receive the graph (and to be refused on a table)."""

    def __init__(self, n_clusters: int, n_features: int, temperature: float = 0.1, beta: float = 1.0) -> None:
        super().__init__(n_clusters, n_features, temperature)
        self.beta = beta

    def forward(self, z: Tensor, edge_index: Tensor) -> LossOutput:
        base = super().forward(z)
        q = self.soft(z)
        smooth = (q[edge_index[0]] - q[edge_index[1]]).pow(2).sum(1).mean()
        return LossOutput(base.total + self.beta * smooth, {**base.components, "smoothness": smooth})


blob = torch.cat([torch.randn(20, 2) + torch.tensor(c) for c in ([8.0, 0.0], [0.0, 8.0], [-6.0, -6.0])])
centroid = CentroidHead(3, 2)
centroid.initialize(blob)
loss = centroid(blob)
print(f"B2. CentroidHead loss {loss:.3f} (terms: {sorted(loss.components)}), labels {centroid.cluster(blob)[:6].tolist()}")


# --- 3. a preset with the Lightning Trainer -----------------------------------------------------------
dm = GraphDataModule(name=None, data=Data(x=x, edge_index=edge_index, y=y))


def train_in_dmon(head: BaseClusterHead, epochs: int = 150) -> dict[str, float]:
    """Swap ``head`` into the DMoN preset, train with the Trainer, score the labels."""
    pl.seed_everything(0, verbose=False)
    preset = DMoN(in_features=x.shape[1], n_clusters=K, epochs=epochs)
    preset.cluster_head = head  # any BaseClusterHead fits here; training uses the new head
    pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
               enable_progress_bar=False, enable_model_summary=False).fit(preset, datamodule=dm)
    found = preset.infer_full(dm)
    return {**external_metrics(y, found), "modularity": modularity(edge_index, found)}


own = train_in_dmon(SmoothCentroidHead(K, 64, beta=2.0))
print("B3. DMoN encoder + SmoothCentroidHead:", {k: round(v, 3) for k, v in own.items()})


# --- 4. the same head from the command line, and DEC for comparison ----------------------------------
# Hydra builds any head from its import path; put the class in an importable module.
module = out / "my_heads.py"
module.write_text(textwrap.dedent('''
    """SmoothCentroidHead for the command line (written by tutorials/custom_head.py)."""
    import torch
    import torch.nn.functional as F
    from pyagc.clusters import BaseClusterHead, LossOutput, kmeans

    class SmoothCentroidHead(BaseClusterHead):
        requires_initialization = True

        def __init__(self, n_clusters, n_features, temperature=0.1, beta=1.0):
            super().__init__(n_clusters)
            self.n_features, self.temperature, self.beta = n_features, temperature, beta
            self.centers = torch.nn.Parameter(torch.randn(n_clusters, n_features))

        @torch.no_grad()
        def initialize(self, z, **context):
            self.centers.copy_(kmeans(F.normalize(z, dim=1), self.n_clusters, n_init=5).centers)

        def soft(self, z):
            sim = F.normalize(z, dim=1) @ F.normalize(self.centers, dim=1).T
            return torch.softmax(sim / self.temperature, dim=1)

        def forward(self, z, edge_index):
            q = self.soft(z)
            confident = -(q * q.clamp_min(1e-12).log()).sum(1).mean()
            mean_q = q.mean(0)
            balance = -(mean_q * mean_q.clamp_min(1e-12).log()).sum()
            smooth = (q[edge_index[0]] - q[edge_index[1]]).pow(2).sum(1).mean()
            return LossOutput(confident - balance + self.beta * smooth, {"smoothness": smooth})

        @torch.no_grad()
        def cluster(self, z, soft=False):
            q = self.soft(z)
            return q if soft else q.argmax(1)
'''))
run_dir = out / "cli_run"
command = [sys.executable, "-m", "pyagc.cli.train", f"data={GRAPH.lower()}", "encoder=gcn_dmon", "model=dmon",
           "head=user", "head._target_=my_heads.SmoothCentroidHead", "+head.beta=2.0", "model.epochs=150",
           "logger=none", "callbacks=none", "plot=false",
           f"hydra.run.dir={run_dir}", "threads=1"]
print("B4. $", " ".join(command[2:]))
env = dict(os.environ, PYTHONPATH=f"{out}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
proc = subprocess.run(command, env=env, capture_output=True, text=True)
if proc.returncode != 0:
    raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
cli = json.loads((run_dir / "metrics.json").read_text())
print("    from the CLI:", {k: round(cli[k], 3) for k in ("acc", "nmi", "ari", "modularity")})

results = {"SimpleClusterHead (page)": train_in_dmon(SimpleClusterHead(n_clusters=K, n_features=64)),
           "SmoothCentroidHead": own,
           "DEC (built-in)": train_in_dmon(DECClusterHead(K, n_features=64, update_interval=10))}
print("    comparison on", GRAPH)
print(f"    {'head':<26}{'ACC':>7}{'NMI':>7}{'ARI':>7}{'Q':>7}")
for name, m in results.items():
    print(f"    {name:<26}{m['acc']:>7.3f}{m['nmi']:>7.3f}{m['ari']:>7.3f}{m['modularity']:>7.3f}")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(7, 3.5))
names = ["acc", "nmi", "ari", "modularity"]
width = 0.8 / len(results)
for i, (label, m) in enumerate(results.items()):
    ax.bar([j + width * i for j in range(4)], [m[k] for k in names], width=width, label=label)
ax.set_xticks([j + 0.4 - width / 2 for j in range(4)], ["ACC", "NMI", "ARI", "modularity"])
ax.set_title(f"Heads in the DMoN preset on {GRAPH}")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(out / "custom_heads_compared.png", dpi=110)
print("figure:", out / "custom_heads_compared.png")
