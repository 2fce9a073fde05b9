r"""Sparse node features and sparse adjacency for graph encoders.

Bag-of-words node features (Cora: 1.3 % non-zeros, CiteSeer: 0.9 %) make the first layer's
feature transform :math:`\mathbf X \mathbf W` the most expensive operation of a GCN step when it is
computed densely. Stored in CSR form, both the forward product and the weight gradient
:math:`\nabla_{\mathbf W} = \mathbf X^\top \nabla_{\mathbf H}` cost :math:`O(\mathrm{nnz}(\mathbf X)\,F_{out})`
instead of :math:`O(N F_{in} F_{out})`; :math:`\mathbf X^\top` is kept in CSR form too so that the
backward pass needs no transposition.

Message passing over ``edge_index`` gathers one message per edge and scatters it back; with the
adjacency as a CSR matrix the same aggregation is one fused sparse-dense product (faster on
CPU). :class:`SparseAdjacencyCache` builds that matrix once per graph.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torch_geometric.nn import Linear

#: attribute under which a CSR feature matrix carries its transpose (also CSR)
_TRANSPOSE_ATTR = "_pyagc_transpose"


def feature_density(x: Tensor) -> float:
    """Share of non-zero entries of a dense 2-D tensor."""
    return float(torch.count_nonzero(x)) / max(x.numel(), 1)


def to_sparse_features(x: Tensor) -> Tensor:
    """``x`` as a CSR tensor that also carries its CSR transpose (for :func:`sparse_linear`)."""
    if x.dim() != 2:
        raise ValueError(f"sparse features must be a 2-D (nodes, features) matrix, got shape {tuple(x.shape)}.")
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the ops used here are stable
        warnings.simplefilter("ignore", UserWarning)
        csr = x.detach().to_sparse_csr()
        setattr(csr, _TRANSPOSE_ATTR, x.detach().t().contiguous().to_sparse_csr())
    return csr


class _CSRMatmul(torch.autograd.Function):
    """``X @ W_t`` for a constant CSR ``X``; the gradient of ``W_t`` is ``X^T @ grad`` with a cached CSR ``X^T``."""

    @staticmethod
    def forward(ctx, x_csr: Tensor, x_t_csr: Tensor, weight_t: Tensor) -> Tensor:  # noqa: D102
        ctx.x_t_csr = x_t_csr
        return x_csr @ weight_t

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        grad_w = ctx.x_t_csr @ grad if ctx.needs_input_grad[2] else None
        return None, None, grad_w


def sparse_linear(x_csr: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    r""":math:`\mathbf X \mathbf W^\top + \mathbf b` for a CSR ``x_csr`` made by :func:`to_sparse_features`.

    Runs in float32 (outside autocast): sparse kernels have no reduced-precision CPU path.
    """
    x_t = getattr(x_csr, _TRANSPOSE_ATTR, None)
    if x_t is None:
        raise ValueError("sparse_linear needs features made by pyagc.encoders.sparse_features.to_sparse_features.")
    with torch.autocast(device_type=x_csr.device.type, enabled=False):
        out = _CSRMatmul.apply(x_csr, x_t, weight.float().t())
        return out if bias is None else out + bias.float()


class SparseInputLinear(Linear):
    """torch-geometric's ``Linear`` that also accepts features made by :func:`to_sparse_features`."""

    def forward(self, x: Tensor) -> Tensor:
        if x.layout == torch.sparse_csr:
            return sparse_linear(x, self.weight, self.bias)
        return super().forward(x)


class SparseFeatureCache:
    """Converts a dense feature matrix to CSR once and reuses it while the same tensor comes back.

    A hit needs the very same tensor object (held, so its memory cannot be reused by another
    tensor) with an unchanged version counter (in-place writes bump it); anything else is
    converted again. Not part of any state dict.
    """

    def __init__(self) -> None:
        self._source: Tensor | None = None
        self._version = -1
        self._value: Tensor | None = None

    def __call__(self, x: Tensor) -> Tensor:
        if x is not self._source or x._version != self._version:
            self._value = to_sparse_features(x)
            self._source, self._version = x, x._version
        return self._value  # type: ignore[return-value]

    def clear(self) -> None:
        self._source, self._version, self._value = None, -1, None


class _CSRPropagate(torch.autograd.Function):
    """``A @ h`` for a constant CSR ``A``; the gradient of ``h`` is ``A^T @ grad`` with a cached CSR ``A^T``
    (autograd through ``torch.sparse.mm`` would transpose -- convert and sort -- ``A`` at every step).
    """

    @staticmethod
    def forward(ctx, a: Tensor, a_t: Tensor, h: Tensor) -> Tensor:  # noqa: D102
        ctx.a_t = a_t
        return a @ h

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        return None, None, ctx.a_t @ grad if ctx.needs_input_grad[2] else None


def gcn_propagate(adjacency: tuple[Tensor, Tensor], h: Tensor) -> Tensor:
    r""":math:`\hat{\mathbf A} \mathbf H` with ``adjacency = (A_hat, A_hat^T)`` from :class:`SparseAdjacencyCache`."""
    return _CSRPropagate.apply(adjacency[0], adjacency[1], h)


class SparseAdjacencyCache:
    r"""GCN's normalised adjacency :math:`\hat{\mathbf A} = \tilde{\mathbf D}^{-1/2}(\mathbf A + \mathbf I)
    \tilde{\mathbf D}^{-1/2}` of ``edge_index`` as CSR matrices ``(A_hat, A_hat^T)`` (row = target node),
    built once with torch-geometric's ``gcn_norm``, so that each GCN layer aggregates with one fused
    sparse-dense product (:func:`gcn_propagate`) and its backward needs no transposition.
    A hit needs the same ``edge_index`` object, unchanged, and the same node count.
    """

    def __init__(self) -> None:
        self._source: Tensor | None = None
        self._key: tuple = ()
        self._value: tuple[Tensor, Tensor] | None = None

    def __call__(
        self, edge_index: Tensor, num_nodes: int, improved: bool = False, add_self_loops: bool = True
    ) -> tuple[Tensor, Tensor]:
        from torch_geometric.nn.conv.gcn_conv import gcn_norm
        from torch_geometric.utils import to_torch_csr_tensor

        key = (edge_index._version, int(num_nodes), improved, add_self_loops)
        if edge_index is not self._source or key != self._key:
            index, weight = gcn_norm(
                edge_index, None, num_nodes, improved, add_self_loops, "source_to_target", torch.float32
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self._value = (
                    to_torch_csr_tensor(index.flip(0), weight, size=(num_nodes, num_nodes)),
                    to_torch_csr_tensor(index, weight, size=(num_nodes, num_nodes)),
                )
            self._source, self._key = edge_index, key
        return self._value  # type: ignore[return-value]

    def clear(self) -> None:
        self._source, self._key, self._value = None, (), None
