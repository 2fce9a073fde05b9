"""The contract every cluster head keeps, checked for every ``BaseClusterHead`` subclass that ``pyagc.clusters``
exports (modelled on scikit-learn's ``check_estimator`` and ClustPy's ``check_clustpy_estimator``).

Which data and encoders a head is checked with follows from the head's own declaration (its ``forward``
signature, read by :class:`~pyagc.clusters.BaseClusterHead`): a head that requires ``edge_index`` gets a GCN on a
graph; one that names ``mu`` / ``logvar`` a variational MLP; one that names ``x_hat`` the autoencoders (MLP and
convolutional); one that names ``views`` an augmentation; any other head every encoder, the GCN included. A new
head exported from ``pyagc.clusters`` is checked without editing this file.

For each head and encoder: the module accepts the pairing; ``initialize`` runs on the whole data's embeddings; the
joint loss is a finite scalar (a tensor or a ``LossOutput`` with finite terms) whose gradient reaches the encoder;
``cluster`` gives int64 labels in ``0..K-1`` and soft rows that are probabilities; a fresh head loaded from the
``state_dict`` clusters identically; and the initialised state is identical in a second process (no dependence on
the global random state).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import pyagc.clusters as clusters
from pyagc.clusters import BaseClusterHead, LossOutput

HEADS: list[type[BaseClusterHead]] = sorted(
    (
        obj
        for name in clusters.__all__
        if inspect.isclass(obj := getattr(clusters, name))
        and issubclass(obj, BaseClusterHead)
        and obj is not BaseClusterHead
    ),
    key=lambda cls: cls.__name__,
)

N_VECTOR, K_VECTOR, F_EMBED = 240, 6, 8


@dataclass
class Pairing:
    encoder: str  # "mlp", "conv", "vae", "gcn"
    data: dict[str, torch.Tensor]
    n_clusters: int


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.isin(digits.target, np.arange(K_VECTOR))
    x = torch.tensor(digits.data[keep][:N_VECTOR] / 16.0, dtype=torch.float32)
    return x, torch.tensor(digits.target[keep][:N_VECTOR])


def _karate() -> dict[str, torch.Tensor]:
    from torch_geometric.datasets import KarateClub

    graph = KarateClub()[0]
    return {"x": graph.x.float(), "edge_index": graph.edge_index, "y": graph.y}


def encoders_for(head_cls: type[BaseClusterHead]) -> list[str]:
    """The encoders a head's declaration allows (see the module docstring)."""
    if head_cls.requires_graph:
        return ["gcn"]
    if head_cls.uses_variational:
        return ["vae"]
    if head_cls.uses_reconstruction:
        return ["mlp", "conv"]
    return ["mlp", "conv", "gcn"]


def build(head_cls: type[BaseClusterHead], encoder: str, seed: int = 0) -> tuple[Any, Pairing]:
    from pyagc.augmentations import TabularAugmentation
    from pyagc.encoders import GCN, ConvAutoencoder, MLPAutoencoder
    from pyagc.models import ClusteringModule

    torch.manual_seed(seed)
    if encoder == "gcn":
        data = _karate()
        k = int(data["y"].max()) + 1
        enc: nn.Module = GCN(data["x"].shape[1], hidden_channels=16, out_channels=F_EMBED)
    else:
        x, y = _digits()
        k = K_VECTOR
        if encoder == "conv":
            data = {"x": x.reshape(-1, 1, 8, 8), "y": y}
            enc = ConvAutoencoder(in_channels=1, image_size=8, channels=(4, 8), latent_dim=F_EMBED)
        else:
            data = {"x": x, "y": y}
            # a variational head's likelihood is on [0, 1] inputs: the decoder ends with a sigmoid (encoder=mlp_vae)
            enc = MLPAutoencoder(
                x.shape[1],
                hidden_dims=[32],
                latent_dim=F_EMBED,
                variational=encoder == "vae",
                **({"output_activation": "sigmoid"} if encoder == "vae" else {}),
            )
    head = head_cls(n_clusters=k, n_features=F_EMBED)
    augmentation = TabularAugmentation() if head.uses_views and encoder != "conv" else None
    if head.uses_views and encoder == "conv":
        from pyagc.augmentations import ImageAugmentation

        augmentation = ImageAugmentation()
    module = ClusteringModule(enc, head, pretrain_epochs=0, epochs=1, augmentation=augmentation)
    return module, Pairing(encoder, data, k)


def _batch(pairing: Pairing) -> dict[str, torch.Tensor]:
    batch = {k: v for k, v in pairing.data.items() if k != "y"}
    batch["index"] = torch.arange(pairing.data["x"].shape[0])
    return batch


CASES = [pytest.param(cls, enc, id=f"{cls.__name__}-{enc}") for cls in HEADS for enc in encoders_for(cls)]


def test_every_exported_head_is_checked() -> None:
    names = {cls.__name__ for cls in HEADS}
    assert {"DECClusterHead", "IDECClusterHead", "DMoNClusterHead", "VaDEClusterHead", "SOMClusterHead"} <= names
    assert all(encoders_for(cls) for cls in HEADS)


@pytest.mark.parametrize("head_cls,encoder", CASES)
def test_head_contract(head_cls: type[BaseClusterHead], encoder: str) -> None:
    torch.set_num_threads(1)
    module, pairing = build(head_cls, encoder)
    head, k = module.cluster_head, pairing.n_clusters
    module.check_head()
    batch = _batch(pairing)
    n = batch["x"].shape[0]

    if head.requires_initialization:
        module.initialize_head(batch)
        assert head.is_initialized

    # the joint loss: a finite scalar whose gradient reaches the encoder
    module.train()
    out = module.compute_loss(batch, phase="joint")
    assert isinstance(out, LossOutput)
    assert out.total.dim() == 0 and out.total.dtype == torch.float32 and torch.isfinite(out.total)
    for name, term in out.components.items():
        assert torch.isfinite(torch.as_tensor(term)).all(), f"loss term {name} is not finite"
    module.zero_grad(set_to_none=True)
    out.total.backward()
    grads = [p.grad for p in module.encoder.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads), "the loss does not reach the encoder"

    # cluster(): hard labels and soft assignments
    module.eval()
    z = module.embed(batch)
    labels = head.cluster(z)
    assert labels.shape == (n,) and labels.dtype == torch.int64
    assert int(labels.min()) >= 0 and int(labels.max()) < k
    soft = head.cluster(z, soft=True)
    assert soft.shape == (n, k) and soft.is_floating_point()
    assert bool((soft >= 0).all()) and torch.allclose(soft.sum(1), torch.ones(n, dtype=soft.dtype), atol=1e-4)

    # state_dict round trip: a fresh head clusters identically
    fresh = head_cls(n_clusters=k, n_features=F_EMBED)
    fresh.load_state_dict(head.state_dict())
    fresh.eval()
    assert torch.equal(fresh.cluster(z), labels)
    assert torch.allclose(fresh.cluster(z, soft=True), soft, atol=1e-6)


def _initialized_digests(perturb_global_rng: bool) -> dict[str, str]:
    """sha256 of each initialised head's state (MLP pairing; graph heads on the GCN) for the same embeddings."""
    torch.set_num_threads(1)
    digests = {}
    for cls in HEADS:
        if not cls.requires_initialization:
            continue
        module, pairing = build(cls, encoders_for(cls)[0])
        if perturb_global_rng:  # the head must not draw from the global generators
            torch.manual_seed(12345)
            np.random.seed(12345)
        module.initialize_head(_batch(pairing))
        state = module.cluster_head.state_dict()
        blob = b"".join(
            v.detach().cpu().contiguous().numpy().tobytes()
            for _, v in sorted(state.items())
            if isinstance(v, torch.Tensor)
        )
        digests[cls.__name__] = hashlib.sha256(blob).hexdigest()
    return digests


def test_initialize_is_identical_in_a_second_process() -> None:
    here = _initialized_digests(perturb_global_rng=True)
    assert here, "no head requires initialisation?"
    script = (
        f"import json, sys; sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r}); "
        "import test_head_contract as t; print('DIGESTS=' + json.dumps(t._initialized_digests(False)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    there = json.loads(out.stdout.split("DIGESTS=")[-1].strip())
    differ = sorted(name for name in here if here[name] != there.get(name))
    assert not differ, f"initialisation differs between processes for {differ}"
