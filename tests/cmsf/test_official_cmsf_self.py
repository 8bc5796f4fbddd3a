"""CMSF_self against a transcription of the authors' step (UCDvision/CMSF self_supervised/train_cmsf_self.py
l.118-209), in float64 over several steps and epochs: random initial queue and pool, the batch written before
the search, C_i = top-k' of w_i in M' including the query's own entry, the -5 offset, the averaged two terms."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from workloads.cmsf.losses import mean_shift_loss
from workloads.cmsf.neighbours import (constrained_topk, masked_similarities, relax_to_unconstrained,
                                       self_constraint, topk_positions)
from workloads.cmsf.target_queue import TargetQueue


class OfficialStep:
    """The authors' ConstrainedMeanShiftSelf buffers and forward, written from their semantics."""

    def __init__(self, queue, pool, blank, k, kp):
        self.queue, self.pool, self.blank, self.k, self.kp = queue.clone(), pool.clone(), blank, k, kp
        self.pool_qindex = torch.zeros(pool.shape[1], dtype=torch.long)
        self.index_queue = -torch.ones(queue.shape[0], dtype=torch.long)
        self.ptr = 0

    def __call__(self, current_target, query, indices):
        b, size = current_target.shape[0], self.queue.shape[0]
        self.pool[self.pool_qindex[indices], indices, :] = current_target        # _dequeue_and_enqueue
        self.pool_qindex[indices] = (self.pool_qindex[indices] + 1) % 2
        self.queue[self.ptr:self.ptr + b] = current_target
        self.index_queue[self.ptr:self.ptr + b] = indices
        self.ptr = (self.ptr + b) % size
        targets = self.queue.clone()
        dist_t = 2 - 2 * current_target @ targets.T
        dist_q = 2 - 2 * query @ targets.T
        _, unconstrained = dist_t.topk(self.k, dim=1, largest=False)
        targets_prime = self.pool[self.pool_qindex[self.index_queue], self.index_queue, :]
        # the one deliberate difference: a never-written position (index -1) reads its own random row instead of
        # image -1's pool (Python's negative index); both are random vectors of the first epoch
        targets_prime = torch.where((self.index_queue >= 0).view(-1, 1), targets_prime, self.blank)
        current_target_prime = self.pool[self.pool_qindex[indices], indices, :]
        dist_t_prime = 2 - 2 * current_target_prime @ targets_prime.T
        _, nn_index_prime = dist_t_prime.topk(self.kp, dim=1, largest=False)
        dist_prime = torch.zeros_like(dist_t)
        dist_prime.scatter_(1, nn_index_prime, -5 * torch.ones_like(dist_t))
        _, constrained = (dist_t + dist_prime).topk(self.k, dim=1, largest=False)
        loss = ((torch.gather(dist_q, 1, constrained).sum(1) / self.k).mean()
                + (torch.gather(dist_q, 1, unconstrained).sum(1) / self.k).mean()) / 2
        return unconstrained, constrained, nn_index_prime, loss


def ours(q: TargetQueue, u, v, idx, k, kp):
    own = q.enqueue(u, idx, torch.zeros_like(idx))
    sims = masked_similarities(u, q.feats, q.searchable())
    w, w_ok = q.previous(idx)
    cand = self_constraint(w, *q.previous_bank(), kp)
    msf = topk_positions(sims, k)
    con = relax_to_unconstrained(*constrained_topk(sims, cand, k), *msf, ~w_ok)
    loss = (mean_shift_loss(v, q.feats, *msf) + mean_shift_loss(v, q.feats, *con)) / 2
    return own, msf, con, cand, loss


def rows_as_sets(t):
    return [sorted(r) for r in t.tolist()]


def test_several_steps_match_the_official_step_at_k_equal_k_prime_5():
    n_img, size, dim, batch, k, kp = 8, 8, 16, 4, 5, 5
    q = TargetQueue(size, dim, num_images=n_img, init="random", seed=0, dtype=torch.float64)
    ref = OfficialStep(q.feats, q.pool, q.blank_prime, k, kp)
    g = torch.Generator().manual_seed(1)
    for epoch in range(3):
        order = torch.randperm(n_img, generator=g)
        for s in range(0, n_img, batch):
            idx = order[s:s + batch]
            u = F.normalize(torch.randn(batch, dim, generator=g, dtype=torch.float64), dim=1)
            v = F.normalize(torch.randn(batch, dim, generator=g, dtype=torch.float64), dim=1)
            r_unc, r_con, r_prime, r_loss = ref(u, v, idx)
            own, (m_idx, m_ok), (c_idx, c_ok), cand, loss = ours(q, u, v, idx, k, kp)
            assert m_ok.all() and c_ok.all()
            assert rows_as_sets(m_idx) == rows_as_sets(r_unc)
            assert rows_as_sets(c_idx) == rows_as_sets(r_con)
            assert rows_as_sets(cand) == rows_as_sets(r_prime)
            assert abs(loss.item() - r_loss.item()) < 1e-12
            assert (m_idx[:, 0] == own).all()                  # u_i's own entry is its nearest neighbour
            if epoch > 0:
                # C_i = the own entry (M'[own] = w_i) plus k' - 1 = 4 others, and S_i = C_i at k = k'
                assert all(o in row for o, row in zip(own.tolist(), cand.tolist()))
                assert rows_as_sets(c_idx) == rows_as_sets(cand)


def test_k_prime_smaller_than_k_fills_s_from_outside_c_as_the_official_offset():
    n_img, size, dim, batch, k, kp = 8, 8, 16, 4, 5, 2
    q = TargetQueue(size, dim, num_images=n_img, init="random", seed=2, dtype=torch.float64)
    ref = OfficialStep(q.feats, q.pool, q.blank_prime, k, kp)
    g = torch.Generator().manual_seed(5)
    for step in range(6):
        idx = torch.arange(4) + 4 * (step % 2)
        u = F.normalize(torch.randn(batch, dim, generator=g, dtype=torch.float64), dim=1)
        v = F.normalize(torch.randn(batch, dim, generator=g, dtype=torch.float64), dim=1)
        _, r_con, _, r_loss = ref(u, v, idx)
        _, _, (c_idx, _), _, loss = ours(q, u, v, idx, k, kp)
        assert rows_as_sets(c_idx) == rows_as_sets(r_con)
        assert abs(loss.item() - r_loss.item()) < 1e-12


def test_first_epoch_w_and_m_prime_are_the_random_initial_pool():
    q = TargetQueue(4, 3, num_images=3, init="random", seed=0, dtype=torch.float64)
    pool0 = q.pool.clone()
    assert torch.allclose(q.feats.norm(dim=1), torch.ones(4, dtype=torch.float64))    # normalised random queue
    x = F.normalize(torch.ones(1, 3, dtype=torch.float64), dim=1)
    q.enqueue(x, torch.tensor([1]), torch.tensor([0]))
    w, ok = q.previous(torch.tensor([1]))
    assert ok.all() and torch.equal(w[0], pool0[1, 1])      # slot 0 got x, the other slot is still random
    prime, prime_ok = q.previous_bank()
    assert prime_ok.all() and torch.equal(prime[0], pool0[1, 1]) and torch.equal(prime[1], q.blank_prime[1])
    q.enqueue(2 * x, torch.tensor([1]), torch.tensor([0]))   # second visit: w_i is the first visit's embedding
    assert torch.equal(q.previous(torch.tensor([1]))[0][0], x[0])
    assert torch.equal(q.previous_bank()[0][0], x[0]) and torch.equal(q.previous_bank()[0][1], x[0])


def test_empty_init_searches_only_written_entries_and_the_other_current_targets():
    q = TargetQueue(6, 2, num_images=4, init="empty", dtype=torch.float64)
    u = torch.tensor([[1.0, 0.0], [0.98, 0.199], [0.0, 1.0]], dtype=torch.float64)
    own = q.enqueue(u, torch.tensor([0, 1, 2]), torch.tensor([0, 0, 1]))
    sims = masked_similarities(u, q.feats, q.searchable())
    idx, ok = topk_positions(sims, 2)
    # the batch is in M before the search: query 0's second neighbour is query 1's target, written this step
    assert own.tolist() == [0, 1, 2] and idx[0].tolist() == [0, 1]
    assert topk_positions(sims, 6)[1].sum(1).tolist() == [3, 3, 3]               # 3 unwritten positions hidden
    assert q.previous(torch.tensor([0]))[1].tolist() == [False]                  # no previous visit yet
    assert not q.previous_bank()[1].any()
    q.enqueue(u[:1], torch.tensor([0]), torch.tensor([0]))
    w, ok = q.previous(torch.tensor([0]))
    assert ok.tolist() == [True] and torch.equal(w[0], u[0])
    assert q.previous_bank()[1].tolist() == [True, False, False, True, False, False]


def test_ring_buffer_overwrites_the_oldest_and_wraps():
    q = TargetQueue(3, 1, num_images=5, init="empty", dtype=torch.float64)
    for i in range(4):
        q.enqueue(torch.tensor([[float(i)]], dtype=torch.float64), torch.tensor([i]), torch.tensor([i]))
    assert q.index.tolist() == [3, 1, 2] and q.labels.tolist() == [3, 1, 2] and q.ptr == 1
    pos = q.enqueue(torch.tensor([[7.0], [8.0]], dtype=torch.float64), torch.tensor([4, 0]), torch.tensor([4, 0]))
    assert pos.tolist() == [1, 2] and q.index.tolist() == [3, 4, 0]
