"""What a head config needs from the rest of a run, read from the head's own declaration.

A cluster head says what it consumes in its ``forward`` signature (:class:`~pyagc.clusters.BaseClusterHead`'s
``requires_graph``, ``uses_variational``, ``uses_views``) and, for a Bernoulli likelihood, in its
``reconstruction`` attribute. From these the overrides that make ``head=NAME`` run are derived, instead of
keeping hand-written tables of heads next to the configs:

* a graph (``edge_index``) -> ``encoder=gcn`` (and graph data);
* ``mu`` / ``logvar`` -> ``encoder=mlp_vae``, plus ``data.scaling=minmax`` (inputs in [0, 1]) for ``bce``;
* ``views`` -> ``model=contrastive model/augmentation=tabular`` (two augmented views of feature vectors).

:func:`pairing_overrides` is what ``pyagc-bench`` runs a bare head name with (``methods=vade`` ->
``head=vade model=vade encoder=mlp_vae data.scaling=minmax``); :func:`head_overrides` is the small-data smoke
variant the head tests use. ``python -m pyagc.cli.pairing dec vade`` prints ``{head: overrides}`` as JSON (how
``pyagc-bench``, which does not import torch, asks for it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "SMOKE_GRAPH",
    "SMOKE_TABLE",
    "VIEWS_MODEL",
    "HeadNeeds",
    "head_needs",
    "head_overrides",
    "pairing_overrides",
]

# a model that draws two augmented views of feature vectors (heads whose forward names ``views``)
VIEWS_MODEL = ["model=contrastive", "model/augmentation=tabular"]
# small tabular runs (the smoke tests of every head config)
SMOKE_TABLE = ["data.limit=300", "encoder.hidden_dims=[64,64]", "trainer.enable_progress_bar=false"]
# a small graph for the heads that need one
SMOKE_GRAPH = ["data=karateclub", "encoder=gcn", "n_clusters=4"]


@dataclass(frozen=True)
class HeadNeeds:
    """What a head consumes besides the embedding ``z``, from its declaration."""

    graph: bool = False  # forward takes edge_index: a graph encoder and graph data
    variational: bool = False  # forward takes mu / logvar: a variational encoder
    bernoulli: bool = False  # reconstruction == "bce": inputs (and decoder outputs) in [0, 1]
    views: bool = False  # forward takes views: a model that draws augmented views


def _config_dir() -> Path:
    from pyagc.cli.build import config_dir

    return Path(config_dir())


def _compose(overrides: Sequence[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(_config_dir()), version_base="1.3"):
        return compose(config_name="train", overrides=["paths.output_dir=unused", *overrides])


def head_needs(head: str) -> HeadNeeds:
    """Instantiate ``head=NAME`` (4 clusters, 10 features) and read its declaration."""
    from pyagc.cli.build import instantiate

    cfg = _compose([f"head={head}"])
    probe = instantiate(cfg.head, n_clusters=4, n_features=10)
    return HeadNeeds(
        graph=bool(probe.requires_graph),
        variational=bool(probe.uses_variational),
        bernoulli=getattr(probe, "reconstruction", None) == "bce",
        views=bool(probe.uses_views),
    )


def pairing_overrides(head: str, needs: HeadNeeds | None = None) -> list[str]:
    """The overrides that run the head config ``head`` as a method: ``head=NAME``, ``model=NAME`` when
    ``configs/model/NAME.yaml`` exists (the head's training recipe), and what its declaration needs (the encoder,
    the input scaling, the views). The data stay the caller's: a graph head on a table fails before training,
    saying it needs a graph.
    """
    needs = head_needs(head) if needs is None else needs
    out = [f"head={head}"]
    has_model = (_config_dir() / "model" / f"{head}.yaml").is_file()
    if has_model:
        out.append(f"model={head}")
    if needs.graph:
        out.append("encoder=gcn")
    if needs.variational:
        out.append("encoder=mlp_vae")
        if needs.bernoulli:
            out.append("data.scaling=minmax")
    if needs.views:
        out += [o for o in VIEWS_MODEL if not (has_model and o.startswith("model="))]
    return out


def head_overrides(head: str) -> list[str]:
    """What a head config needs to run on small data (the head smoke tests): a small graph when it requires
    ``edge_index``; otherwise small tabular data, with a variational encoder (and inputs in [0, 1] for its
    Bernoulli likelihood) when it names ``mu`` / ``logvar`` and an augmentation when it names ``views``.
    """
    needs = head_needs(head)
    if needs.graph:
        return list(SMOKE_GRAPH)
    out = list(SMOKE_TABLE)
    if needs.variational:
        out = ["encoder=mlp_vae", *out]
        if needs.bernoulli:
            out.append("data.scaling=minmax")
    if needs.views:
        out = [*VIEWS_MODEL, *out]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pyagc.cli.pairing HEAD...``: print ``{head: {"overrides": [...], "needs": {...}}}`` as JSON."""
    heads = list(sys.argv[1:] if argv is None else argv)
    out = {}
    for head in heads:
        needs = head_needs(head)
        out[head] = {"overrides": pairing_overrides(head, needs), "needs": asdict(needs)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
