"""Is the 5-epoch pretraining gap between clustpy and pyagc in the network object or in the training loop?

Runs in the separate anchor environment (clustpy is NOT a pyagc dependency; this script does not import pyagc)::

    OMP_NUM_THREADS=1 /work/benchvenv/bin/python scripts/anchor_pretraining_loop.py --data mnist --seed 0 \
        --pretrain-epochs 5 --variants clustpy_fit clustpy_net_plain_loop torch_net_plain_loop \
        --data-root ../shared/data

Context (``benchmarks/pretraining_reduction.md``): clustpy's VaDE autoencoder after 5 epochs on MNIST seemed to
embed the digits better (k-means ACC 0.731 on seeds 0-2, session 9) than the same recipe trained by pyagc (0.689 over
12 runs, session 10, another machine), and neither the loss reduction, the fused optimizer nor Lightning explained
it. Run on the machine of pyagc's runs, this script and ``anchor_clustpy_vade.py --diagnose`` put clustpy's own
autoencoder at 0.65-0.71 too (session 10): the gap was between machines. Each variant here trains
``[d, 500, 500, 2000, 10]`` (LeakyReLU, a sigmoid output, PyTorch's default init) on the same scaled data with
Adam 1e-3, batch 256, ``BCELoss(reduction="sum")`` (clustpy's VaDE pretraining), for ``--pretrain-epochs``:

* ``clustpy_fit``: clustpy's ``_VaDE_VAE`` trained by its own ``fit`` (what clustpy's VaDE does before its GMM);
* ``clustpy_net_plain_loop``: the same clustpy network object trained by a plain PyTorch loop
  (``DataLoader(shuffle=True)`` over the tensor, ``zero_grad / backward / step``);
* ``torch_net_plain_loop``: a plain ``nn.Sequential`` encoder / decoder of the same layers (pyagc's layout: the mean
  layer is the encoder's last linear layer) trained by the same plain loop.

Each prints one JSON line with the k-means ACC / NMI (scikit-learn, n_init 10, ``random_state=seed``) of the mean
embedding, the final per-element BCE and the seconds of training. If the two clustpy variants agree and the plain
``nn.Sequential`` is worse, the difference is in the network (its construction / initialisation); if the plain
loop is worse with clustpy's own network, it is in the loop.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from anchor_clustpy_common import anchor_parser, cluster_acc, prepare  # noqa: E402

VARIANTS = ("clustpy_fit", "clustpy_net_plain_loop", "torch_net_plain_loop")


def _torch_net(d: int, hidden: list[int], latent: int):
    import torch
    from torch import nn

    def mlp(dims: list[int]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.LeakyReLU())
        return nn.Sequential(*layers)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dims = [d, *hidden, latent]
            self.encoder = mlp(dims)
            self.decoder = nn.Sequential(*mlp(dims[::-1]), nn.Sigmoid())

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            return self.encoder(x)

        def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
            return self.decoder(self.encoder(x))

    return Net()


def run(variant: str, x, y, n_clusters: int, args) -> dict:
    import numpy as np
    import torch
    from clustpy.deep.vade import _VaDE_VAE
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    layers = [x.shape[1], *args.hidden, args.latent]
    loss_fn = torch.nn.BCELoss(reduction="sum")
    xt = torch.as_tensor(x, dtype=torch.float32)
    start = time.perf_counter()
    if variant == "clustpy_fit":
        net = _VaDE_VAE(layers=layers, random_state=args.seed)
        net.fit(
            n_epochs=args.pretrain_epochs,
            optimizer_params={"lr": 1e-3},
            batch_size=args.batch_size,
            data=x,
            ssl_loss_fn=loss_fn,
        )
        embed = lambda b: net.encode(b)[0]  # noqa: E731
        reconstruct = lambda b: net.decode(net.encode(b)[0])  # noqa: E731
    else:
        if variant == "clustpy_net_plain_loop":
            net = _VaDE_VAE(layers=layers, random_state=args.seed)
            embed = lambda b: net.encode(b)[0]  # noqa: E731
            reconstruct = lambda b: net.decode(net.encode(b)[0])  # noqa: E731
        else:
            net = _torch_net(x.shape[1], args.hidden, args.latent)
            embed, reconstruct = net.embed, net.reconstruct
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(xt), batch_size=args.batch_size, shuffle=True
        )
        net.train()
        for _ in range(args.pretrain_epochs):
            for (xb,) in loader:
                opt.zero_grad()
                loss_fn(reconstruct(xb), xb).backward()
                opt.step()
        net.eval()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        z = torch.cat([embed(xt[i : i + 4096]) for i in range(0, len(xt), 4096)]).double().numpy()
        bce = float(
            sum(loss_fn(reconstruct(xt[i : i + 4096]), xt[i : i + 4096]) for i in range(0, len(xt), 4096)) / xt.numel()
        )
    labels = KMeans(n_clusters, n_init=10, random_state=args.seed).fit_predict(z)
    return {
        "variant": variant,
        "seed": args.seed,
        "kmeans_acc": round(cluster_acc(y, labels), 4),
        "kmeans_nmi": round(float(normalized_mutual_info_score(y, labels)), 4),
        "bce": round(bce, 5),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    p = anchor_parser(__doc__)
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = p.parse_args()
    x, y, n_clusters = prepare(args)
    for variant in args.variants:
        print(json.dumps({"data": args.data, **run(variant, x, y, n_clusters, args)}), flush=True)


if __name__ == "__main__":
    main()
