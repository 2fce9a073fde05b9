import io
import math

import pytest
import torch

from pyagc.clusters import DCNClusterHead, kmeans


def two_centre_head(lambda_: float = 2.0, count: int = 100) -> DCNClusterHead:
    """A 2-D head with centres (0, 0) and (4, 0), as if initialised."""
    head = DCNClusterHead(2, 2, lambda_=lambda_)
    head.centers.copy_(torch.tensor([[0.0, 0.0], [4.0, 0.0]]))
    head.counts.fill_(count)
    head.mark_initialized()
    return head


def test_loss_known_values_on_hand_made_example():
    head = two_centre_head(lambda_=2.0).eval()  # eval: no centre update
    z = torch.tensor([[1.0, 0.0], [3.0, 1.0]])  # nearest centres 0 (d=1) and 1 (d=1+1=2)
    x, x_hat = torch.zeros(2, 3), torch.ones(2, 3)  # mse = 1
    out = head(z, x=x, x_hat=x_hat)
    assert math.isclose(float(out.components["kmeans"]), (1.0 + 2.0) / 2)
    assert math.isclose(float(out.components["reconstruction"]), 1.0)
    assert math.isclose(float(out.total), 1.0 + 0.5 * 2.0 * 1.5)
    assert torch.equal(head.centers, torch.tensor([[0.0, 0.0], [4.0, 0.0]]))  # eval mode: unchanged
    assert torch.equal(head.counts, torch.tensor([100, 100]))


def test_centre_update_equals_the_papers_sequential_formula():
    head = two_centre_head(count=2).train()
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0], [5.0, 1.0]])  # three to centre 0, one to centre 1
    # the paper's Algorithm 1, one sample at a time: c_k += 1; m_k -= (1/c_k)(m_k - z_i)
    m = head.centers.clone()
    c = head.counts.clone().double()
    for zi in z:
        k = int(((m - zi) ** 2).sum(1).argmin())
        c[k] += 1
        m[k] = m[k] - (1.0 / c[k]) * (m[k] - zi)
    head(z, x=torch.zeros(4, 1), x_hat=torch.zeros(4, 1))
    assert torch.allclose(head.centers, m, atol=1e-6)
    assert torch.equal(head.counts, torch.tensor([5, 3]))
    # by hand: centre 0 = (2*(0,0) + (1,0) + (0,2) + (-1,1)) / 5 = (0, 0.6); centre 1 = (2*(4,0) + (5,1)) / 3
    assert torch.allclose(head.centers, torch.tensor([[0.0, 0.6], [13 / 3, 1 / 3]]))


def test_gradients_flow_into_z_but_not_into_the_centres():
    head = two_centre_head(lambda_=2.0).train()
    assert list(head.parameters()) == [] and not head.centers.requires_grad
    z = torch.tensor([[1.0, 0.0], [3.0, 1.0]], requires_grad=True)
    centres_before = head.centers.clone()
    out = head(z, x=torch.zeros(2, 3), x_hat=torch.zeros(2, 3))
    out.total.backward()
    # d/dz [lambda/2 * mean_i ||z_i - m_{s_i}||^2] = lambda * (z_i - m_{s_i}) / B, with the centres of the forward
    expected = 2.0 * (z.detach() - centres_before[torch.tensor([0, 1])]) / 2
    assert torch.allclose(z.grad, expected)
    assert head.centers.grad is None
    assert not torch.equal(head.centers, centres_before)  # moved by the count-based update, not by gradients


def test_cluster_shapes_dtypes_and_soft_rows():
    head = two_centre_head()
    z = torch.tensor([[1.0, 0.0], [3.0, 1.0], [2.0, 0.0]])
    labels = head.cluster(z)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 1, 0]  # a tie goes to the first centre
    soft = head.cluster(z, soft=True)
    assert soft.shape == (3, 2) and soft.dtype == torch.float32
    assert torch.allclose(soft.sum(1), torch.ones(3))
    # softmax(-d): row 0 has d = (1, 9)
    assert math.isclose(float(soft[0, 0]), 1 / (1 + math.exp(-8)), rel_tol=1e-6)
    assert math.isclose(float(soft[2, 0]), 0.5)


def test_initialize_uses_kmeans_and_sets_counts():
    torch.manual_seed(0)
    z = torch.cat([torch.randn(30, 2), torch.randn(20, 2) + 10])
    head = DCNClusterHead(2, 2, n_init=5, seed=3)
    head.initialize(z)
    ref = kmeans(z, 2, n_init=5, seed=3)
    assert head.is_initialized and torch.allclose(head.centers, ref.centers)
    assert torch.equal(head.counts, torch.tensor([100, 100]))
    sized = DCNClusterHead(2, 2, initial_count=None, n_init=5, seed=3)
    sized.initialize(z)
    assert sorted(sized.counts.tolist()) == [20, 30]


def test_state_survives_a_checkpoint_round_trip():
    head = two_centre_head(count=7).train()
    head(torch.randn(5, 2), x=torch.zeros(5, 1), x_hat=torch.zeros(5, 1))
    buf = io.BytesIO()
    torch.save(head.state_dict(), buf)
    buf.seek(0)
    fresh = DCNClusterHead(2, 2, lambda_=2.0)
    assert not fresh.is_initialized
    fresh.load_state_dict(torch.load(buf))
    assert fresh.is_initialized
    assert torch.equal(fresh.centers, head.centers) and torch.equal(fresh.counts, head.counts)
    assert int(fresh.counts.sum()) == 7 * 2 + 5
    # training continues identically from the restored state
    z = torch.randn(4, 2)
    head(z, x=torch.zeros(4, 1), x_hat=torch.zeros(4, 1))
    fresh.train()(z, x=torch.zeros(4, 1), x_hat=torch.zeros(4, 1))
    assert torch.equal(fresh.centers, head.centers)


def test_bf16_autocast_gives_a_float32_loss():
    head = two_centre_head().train()
    z = torch.tensor([[1.0, 0.0], [3.0, 1.0]], requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(z.bfloat16(), x=torch.zeros(2, 3), x_hat=torch.ones(2, 3).bfloat16())
    assert out.total.dtype == torch.float32 and torch.isfinite(out.total)
    assert head.centers.dtype == torch.float32


def test_bad_input_errors():
    with pytest.raises(ValueError, match="at least 2"):
        DCNClusterHead(1, 2)
    with pytest.raises(ValueError, match="non-negative"):
        DCNClusterHead(2, 2, lambda_=-1.0)
    with pytest.raises(ValueError, match="initial_count"):
        DCNClusterHead(2, 2, initial_count=0)
    head = DCNClusterHead(2, 2)
    with pytest.warns(UserWarning, match="used before initialize"):  # initialises itself from the first z
        out = head(torch.randn(3, 2), x=torch.zeros(3, 1), x_hat=torch.zeros(3, 1))
    assert torch.isfinite(out.total) and head.is_initialized
    head = two_centre_head()
    with pytest.raises(ValueError, match="x_hat"):
        head(torch.randn(3, 2))
    with pytest.raises(ValueError, match="2-dimensional"):
        head(torch.randn(3, 5), x=torch.zeros(3, 1), x_hat=torch.zeros(3, 1))
    with pytest.raises(FloatingPointError, match="NaN"):
        head.cluster(torch.full((2, 2), float("nan")))
    with pytest.raises(ValueError, match="larger than the number of samples"):
        DCNClusterHead(3, 2).initialize(torch.randn(2, 2))


def test_end_to_end_on_digits_with_clustering_module(one_thread):
    import pytorch_lightning as pl

    from pyagc.data import TabularDataModule
    from pyagc.metrics import external_metrics
    from pyagc.models import DCN

    dm = TabularDataModule("digits", scaling="minmax", batch_size=256, seed=0)
    dm.setup()
    pl.seed_everything(0, verbose=False)
    model = DCN(dm.n_features, n_clusters=10, hidden_dims=(128, 128), pretrain_epochs=8, epochs=3, n_init=3)
    trainer = pl.Trainer(
        max_epochs=11,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    head = model.cluster_head
    # every sample was assigned once per joint epoch: counts = 100 each + N * epochs in total
    assert int(head.counts.sum()) == 10 * 100 + dm.n_samples * 3
    pred = model.infer_full(dm)
    assert pred.shape == (dm.n_samples,) and pred.dtype == torch.int64
    assert external_metrics(dm.y.numpy(), pred.numpy())["acc"] > 0.5  # chance is ~0.1
    assert model.joint_steps == 3 * math.ceil(dm.n_samples / 256)


def test_loss_keeps_each_samples_previous_assignment_as_in_the_papers_algorithm():
    # three samples in two well-separated groups: k-means gives labels by group
    z0 = torch.tensor([[0.0, 0.0], [0.2, 0.0], [4.0, 0.0]])
    head = DCNClusterHead(2, 2, lambda_=2.0, n_init=3)
    head.initialize(z0)
    first = head.labels.clone()
    assert first[0] == first[1] != first[2]
    head.train()
    # sample 1 has moved next to the other centre: the loss still pulls it to its previous centre ...
    z = torch.tensor([[0.0, 0.0], [3.9, 0.0]])
    index = torch.tensor([0, 1])
    centres = head.centers.clone()
    out = head(z, x=torch.zeros(2, 1), x_hat=torch.zeros(2, 1), index=index)
    previous = centres[first[index]]
    assert math.isclose(float(out.components["kmeans"]), float((z - previous).pow(2).sum(1).mean()), rel_tol=1e-6)
    # ... while the fresh assignment moves the other centre and is remembered for the next visit
    assert head.labels[1] == first[2] and head.labels[0] == first[0] and head.labels[2] == first[2]
    out2 = head(z, x=torch.zeros(2, 1), x_hat=torch.zeros(2, 1), index=index)  # now the nearest centre
    assert float(out2.components["kmeans"]) < float(out.components["kmeans"])
    with pytest.raises(ValueError, match="outside the 3 samples"):
        head(z, x=torch.zeros(2, 1), x_hat=torch.zeros(2, 1), index=torch.tensor([0, 7]))


def _remember_on_two_processes(rank: int, port: int, folder: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        head = DCNClusterHead(2, 2)
        head.labels = torch.zeros(6, dtype=torch.long)
        index = torch.tensor([0, 2, 4]) + rank  # each process sees its own shard of the samples
        head._remember_labels(index, torch.full((3,), rank + 1))
        torch.save(head.labels, f"{folder}/labels{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_assignments_of_every_process_are_remembered_on_every_process(tmp_path):
    # under DDP a sample can be on the other process at its next visit: both must hold every fresh assignment
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_remember_on_two_processes, args=(port, str(tmp_path)), nprocs=2)
    expected = torch.tensor([1, 2, 1, 2, 1, 2])
    for rank in (0, 1):
        assert torch.equal(torch.load(tmp_path / f"labels{rank}.pt"), expected)
