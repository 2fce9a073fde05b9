import copy
import math

import pytest
import torch

from pyagc.callbacks import ReclusteringBarrier
from pyagc.callbacks.reclustering_barrier import fresh_copy
from pyagc.clusters import DCNClusterHead, DECClusterHead, KMeansClusterHead, kmeans
from pyagc.encoders import MLPAutoencoder
from pyagc.models import ClusteringModule


def blobs(n_per: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0] * 8, [5.0] * 8, [-5.0] * 8])
    return torch.cat([c + torch.randn(n_per, 8, generator=g) for c in centres])


def small_model(head_cls=DECClusterHead, **head_kw) -> ClusteringModule:
    torch.manual_seed(0)
    enc = MLPAutoencoder(8, hidden_dims=(16, 12), latent_dim=3)
    return ClusteringModule(enc, head_cls(3, 3, **head_kw), pretrain_epochs=0, epochs=1)


def test_soft_reset_moves_weights_toward_a_fresh_init_by_alpha():
    model = small_model()
    x = blobs()
    model.initialize_head(x)
    before = copy.deepcopy(model.encoder.state_dict())
    cb = ReclusteringBarrier(alpha=0.8, seed=5, recluster=False, reset_momentum=False)
    names = cb.apply(model, epoch=7)
    # encoder.encoder = [Linear(8,16), ReLU, Linear(16,12), ReLU, Linear(12,3)]: the embedding layer is kept
    assert names == ["encoder.0", "encoder.2"]
    after = model.encoder.state_dict()
    for index, name in enumerate(names):
        layer = model.encoder.get_submodule(name)
        fresh = fresh_copy(layer, cb.layer_seed(7, index), "xavier")
        for p in ("weight", "bias"):
            old, new, phi = before[f"{name}.{p}"], after[f"{name}.{p}"], getattr(fresh, p).detach()
            assert torch.allclose(new, 0.8 * old + 0.2 * phi, atol=1e-6)
        # the fresh weights are a new Xavier-uniform draw (not the old weights), biases zero
        bound = math.sqrt(6.0 / sum(fresh.weight.shape))
        assert fresh.weight.abs().max() <= bound and fresh.weight.std() > bound / 4
        assert not torch.allclose(fresh.weight, before[f"{name}.weight"])
        assert torch.count_nonzero(fresh.bias) == 0
        # by hand: new - alpha * old is (1 - alpha) times the fresh draw
        assert torch.allclose((after[f"{name}.weight"] - 0.8 * before[f"{name}.weight"]) / 0.2, fresh.weight, atol=1e-5)
    for key in before:  # embedding layer and decoder untouched
        if not key.startswith(("encoder.0.", "encoder.2.")):
            assert torch.equal(before[key], after[key]), key


def test_fresh_weights_are_deterministic_and_alpha_one_is_a_no_op():
    a, b = small_model(), small_model()
    ReclusteringBarrier(alpha=0.5, seed=1, recluster=False).apply(a, epoch=3)
    ReclusteringBarrier(alpha=0.5, seed=1, recluster=False).apply(b, epoch=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = small_model()
    ReclusteringBarrier(alpha=0.5, seed=2, recluster=False).apply(c, epoch=3)
    assert not torch.equal(a.encoder.encoder[0].weight, c.encoder.encoder[0].weight)
    d, ref = small_model(), small_model()
    ReclusteringBarrier(alpha=1.0, recluster=False).apply(d, epoch=3)
    assert all(torch.equal(p, q) for p, q in zip(d.parameters(), ref.parameters()))


def test_optimizer_state_is_reset_and_centres_are_recomputed():
    model = small_model()
    x = blobs()
    model.initialize_head(x)
    opt = torch.optim.Adam(list(model.encoder.parameters()) + list(model.cluster_head.parameters()), lr=1e-2)
    sgd = torch.optim.SGD(model.encoder.parameters(), lr=1e-3, momentum=0.9)
    for _ in range(3):
        for o in (opt, sgd):
            o.zero_grad()
            model({"x": x, "index": torch.arange(len(x))}).backward()
            o.step()
    assert len(opt.state) > 0 and len(sgd.state) > 0
    centres_before = model.cluster_head.centers.detach().clone()
    ReclusteringBarrier(alpha=0.6, seed=0).apply(model, [opt, sgd], epoch=1, data=x)
    assert len(opt.state) == 0 and len(sgd.state) == 0
    # the centres are k-means of the *reset* encoder's embeddings of all samples
    expected = kmeans(model.embed(x), 3, n_init=model.cluster_head.n_init, seed=model.cluster_head.seed).centers
    assert torch.allclose(model.cluster_head.centers, expected, atol=1e-5)
    assert not torch.allclose(model.cluster_head.centers, centres_before)
    # DEC's target distribution was refreshed for every sample
    assert model.cluster_head.target.shape == (len(x), 3)
    # optimizers keep working after the reset
    opt.zero_grad()
    model({"x": x, "index": torch.arange(len(x))}).backward()
    opt.step()


@pytest.mark.parametrize("head_cls", [DCNClusterHead, KMeansClusterHead])
def test_works_with_other_centroid_heads(head_cls):
    model = small_model(head_cls)
    x = blobs()
    model.initialize_head(x)
    if isinstance(model.cluster_head, DCNClusterHead):  # let the DCN counts grow, then check they restart
        model.train()
        model({"x": x})
        assert int(model.cluster_head.counts.sum()) == 300 + len(x)
    ReclusteringBarrier(alpha=0.8, seed=0).apply(model, epoch=1, data=x)
    expected = kmeans(model.embed(x), 3, n_init=model.cluster_head.n_init, seed=model.cluster_head.seed).centers
    assert torch.allclose(model.cluster_head.centers, expected, atol=1e-5)
    if isinstance(model.cluster_head, DCNClusterHead):
        assert model.cluster_head.counts.tolist() == [100, 100, 100]


def test_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        ReclusteringBarrier(alpha=1.5)
    with pytest.raises(ValueError, match="reset_interval"):
        ReclusteringBarrier(reset_interval=0)
    with pytest.raises(ValueError, match="init"):
        ReclusteringBarrier(init="orthogonal")
    with pytest.raises(ValueError, match="no submodule 'encoder.9'.*encoder.0"):
        ReclusteringBarrier(layers=["encoder.9"], recluster=False).apply(small_model())


def test_trainer_run_with_dec_on_digits(one_thread):
    import pytorch_lightning as pl

    from pyagc.data import TabularDataModule

    def fit(callback):
        dm = TabularDataModule("digits", scaling="minmax", batch_size=100, seed=0, limit=400)
        dm.setup()
        pl.seed_everything(0, verbose=False)
        torch.manual_seed(0)
        enc = MLPAutoencoder(dm.n_features, hidden_dims=(32, 32), latent_dim=5)
        model = ClusteringModule(
            enc,
            DECClusterHead(10, 5, update_interval=4, tol=0.0, n_init=2),
            pretrain_epochs=2,
            epochs=4,
            optimizer={"name": "sgd", "lr": 0.01, "momentum": 0.9},
        )
        trainer = pl.Trainer(
            max_epochs=6,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[callback],
        )
        trainer.fit(model, datamodule=dm)
        return model, dm, trainer

    cb = ReclusteringBarrier(reset_interval=2, alpha=0.8, seed=0)
    model, dm, trainer = fit(cb)
    assert cb.applied_at == [4]  # joint epochs 0..3: applied at the start of joint epoch 2 = trainer epoch 4
    assert trainer.current_epoch == 6 and int(model.joint_steps) == 16
    labels = model.infer_full(dm)
    assert labels.shape == (400,) and int(labels.max()) < 10
    cb2 = ReclusteringBarrier(reset_interval=2, alpha=0.8, seed=0)
    model2, dm2, _ = fit(cb2)
    assert torch.equal(model2.infer_full(dm2), labels)  # deterministic for a seed
    assert torch.equal(model2.cluster_head.centers, model.cluster_head.centers)


def test_kaiming_fresh_weights_have_the_kaiming_bound_and_default_biases():
    layer = torch.nn.Linear(50, 20)
    fresh = fresh_copy(layer, seed=3, init="kaiming")
    bound = math.sqrt(6.0 / 50)  # kaiming_uniform_ with a=0: gain sqrt(2) * sqrt(3 / fan_in)
    assert fresh.weight.abs().max() <= bound and fresh.weight.abs().max() > 0.9 * bound
    bias_bound = 1.0 / math.sqrt(50)  # PyTorch's default Linear bias, kept
    assert fresh.bias.abs().max() <= bias_bound and torch.count_nonzero(fresh.bias) == 20
    xavier = fresh_copy(layer, seed=3, init="xavier")
    assert xavier.weight.abs().max() <= math.sqrt(6.0 / 70) < 0.9 * bound


def test_head_momentum_reset_zeroes_only_the_centres_moments_and_keeps_steps():
    model = small_model()
    x = blobs()
    model.initialize_head(x)
    opt = torch.optim.Adam(list(model.encoder.parameters()) + list(model.cluster_head.parameters()), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model({"x": x, "index": torch.arange(len(x))}).backward()
        opt.step()
    centres = model.cluster_head.centers
    enc_param = model.encoder.encoder[0].weight
    enc_moment = opt.state[enc_param]["exp_avg"].clone()
    assert opt.state[centres]["exp_avg"].abs().sum() > 0
    ReclusteringBarrier(alpha=1.0, reset_momentum="head", recluster=False).apply(model, [opt], epoch=1)
    assert opt.state[centres]["exp_avg"].abs().sum() == 0 and opt.state[centres]["exp_avg_sq"].abs().sum() == 0
    assert float(opt.state[centres]["step"]) == 3.0  # step count kept (the BRB authors' reset)
    assert torch.equal(opt.state[enc_param]["exp_avg"], enc_moment)  # encoder state untouched
    with pytest.raises(ValueError, match="reset_momentum"):
        ReclusteringBarrier(reset_momentum="encoder")


def test_batch_norm_statistics_follow_the_reset_weights():
    """After a soft reset the reclustering must see the embeddings that training sees: the encoder's batch-norm
    running statistics are re-estimated for the new weights (stale ones distort the eval-mode embeddings)."""
    x = blobs(60)

    def bn_model() -> ClusteringModule:
        torch.manual_seed(0)
        enc = MLPAutoencoder(8, hidden_dims=(16, 12), latent_dim=3, batch_norm=True)
        model = ClusteringModule(enc, DECClusterHead(3, 3), pretrain_epochs=0, epochs=1)
        model.train()
        with torch.no_grad():  # running statistics of the current weights (momentum 0.1, many passes)
            for _ in range(200):
                model.embed_batch({"x": x})
        return model

    def train_mode_embedding(model: ClusteringModule) -> torch.Tensor:
        norms = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm1d)]
        saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in norms]
        model.train()
        with torch.no_grad():
            z = model.embed_batch({"x": x})  # batch statistics of all samples
        for m, (mean, var, count) in zip(norms, saved):  # leave the running statistics as they were
            m.running_mean.copy_(mean), m.running_var.copy_(var), m.num_batches_tracked.copy_(count)
        return z

    fixed, stale = bn_model(), bn_model()
    assert torch.allclose(fixed.embed(x), train_mode_embedding(fixed), atol=0.05)  # consistent before the reset
    ReclusteringBarrier(alpha=0.5, seed=1, recluster=False).apply(fixed, epoch=1, data=x)
    ReclusteringBarrier(alpha=0.5, seed=1, recluster=False, recalibrate_batch_norm=False).apply(stale, epoch=1, data=x)
    for a, b in zip(fixed.parameters(), stale.parameters()):  # the same reset
        assert torch.equal(a, b)
    target = train_mode_embedding(fixed)
    recalibrated_gap = (fixed.embed(x) - target).abs().max().item()
    stale_gap = (stale.embed(x) - target).abs().max().item()
    # one batch = all samples: only the biased (training) vs unbiased (running) variance differs
    assert recalibrated_gap < 0.05
    assert stale_gap > 10 * recalibrated_gap
    # nothing to do without batch norm, and the count of recalibrated layers is reported
    assert small_model().recalibrate_batch_norm(x) == 0
    decoder_norm = next(m for m in fixed.encoder.decoder.modules() if isinstance(m, torch.nn.BatchNorm1d))
    decoder_stats = decoder_norm.running_mean.clone()
    assert fixed.recalibrate_batch_norm(x) == 2  # the encoder's two; the decoder's are not on the embedding path
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=len(x) - 1)
    assert fixed.recalibrate_batch_norm(loader) == 2  # a last batch of one sample is skipped, not an error
    assert torch.equal(decoder_norm.running_mean, decoder_stats)
    assert all(m.momentum == 0.1 for m in fixed.encoder.modules() if isinstance(m, torch.nn.BatchNorm1d))


def _recalibrate_on_a_shard(rank: int, world: int, init_file: str, out_file: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        model = ClusteringModule(
            MLPAutoencoder(8, hidden_dims=(16,), latent_dim=3, batch_norm=True),
            DECClusterHead(3, 3),
            pretrain_epochs=0,
            epochs=1,
        )
        x = blobs(60)
        shard = x[rank::world]  # every process sees its own part of the data
        assert model.recalibrate_batch_norm(shard) == 1
        norm = next(m for m in model.encoder.encoder.modules() if isinstance(m, torch.nn.BatchNorm1d))
        torch.save({"mean": norm.running_mean.clone(), "var": norm.running_var.clone()}, f"{out_file}.{rank}")
    finally:
        dist.destroy_process_group()


def test_batch_norm_recalibration_averages_over_ddp_processes(tmp_path):
    import torch.multiprocessing as mp

    world = 2
    mp.spawn(_recalibrate_on_a_shard, args=(world, str(tmp_path / "init"), str(tmp_path / "stats")), nprocs=world)
    stats = [torch.load(tmp_path / f"stats.{rank}") for rank in range(world)]
    assert torch.equal(stats[0]["mean"], stats[1]["mean"]) and torch.equal(stats[0]["var"], stats[1]["var"])
    # the average of what each process estimates alone on its shard
    x = blobs(60)
    alone = []
    for rank in range(world):
        torch.manual_seed(0)
        model = ClusteringModule(
            MLPAutoencoder(8, hidden_dims=(16,), latent_dim=3, batch_norm=True),
            DECClusterHead(3, 3),
            pretrain_epochs=0,
            epochs=1,
        )
        model.recalibrate_batch_norm(x[rank::world])
        alone.append(next(m for m in model.encoder.encoder.modules() if isinstance(m, torch.nn.BatchNorm1d)))
    assert torch.allclose(stats[0]["mean"], (alone[0].running_mean + alone[1].running_mean) / 2, atol=1e-6)
    assert torch.allclose(stats[0]["var"], (alone[0].running_var + alone[1].running_var) / 2, atol=1e-6)
    assert not torch.allclose(alone[0].running_mean, alone[1].running_mean)  # the shards do differ
