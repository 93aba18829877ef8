"""Window helpers, windowed attention averaging, and the 3D token search of DeformableAttention3D."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from deformer3d.models.attention import (
    DeformableAttention3D,
    MultiHeadAttention,
    WindowedAttention,
    average_window_slices,
    reference_points,
    window_slices,
    window_starts,
)


@pytest.mark.parametrize("length", [1, 2, 3, 7, 8, 9, 12, 17, 34, 51])
@pytest.mark.parametrize("window", [1, 2, 3, 4, 5, 8, 16])
def test_windows_cover_every_item_with_half_window_stride(length, window):
    starts = window_starts(length, window)
    covered = {s + j for s in starts for j in range(min(window, length))}
    assert covered == set(range(length)), "every joint / frame must fall in at least one window"
    assert starts[0] == 0 and starts[-1] + min(window, length) == length  # the last items are covered
    stride = max(1, window // 2)
    # all steps are the stride except possibly the last, shifted back to end at `length`
    steps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(s == stride for s in steps[:-1])
    assert all(0 < s <= stride for s in steps)


def test_average_window_slices_averages_overlaps():
    length, window = 17, 8
    starts = window_starts(length, window)  # 0, 4, 8, 9
    assert starts == [0, 4, 8, 9]
    # window n outputs the value n for every item: an item's result must be the mean of its windows' ids
    values = torch.arange(len(starts), dtype=torch.float64)[None, :, None, None].expand(2, len(starts), window, 3)
    out = average_window_slices(values, starts, length)
    assert out.shape == (2, length, 3)
    for item in range(length):
        ids = [n for n, s in enumerate(starts) if s <= item < s + window]
        assert torch.allclose(out[:, item], torch.tensor(sum(ids) / len(ids), dtype=torch.float64))


def test_window_slices_unfold_or_slice_to_the_same_windows():
    x = torch.arange(2 * 12 * 3, dtype=torch.float64).reshape(2, 12, 3)
    for starts in ([0, 2, 4, 6, 8], [0, 4, 8], [0, 3, 6, 8]):  # evenly spaced (a view) and a shifted last one
        windows = window_slices(x, starts, 4)
        assert windows.shape == (2, len(starts), 4, 3)
        for n, s in enumerate(starts):
            assert torch.equal(windows[:, n], x[:, s : s + 4])


def test_windowed_attention_equals_per_window_attention_averaged():
    torch.manual_seed(0)
    dim, length, k = 16, 7, 3
    module = WindowedAttention(dim, heads=2, window=4).eval()
    units = torch.randn(2, length, k, dim)
    shared = torch.randn(2, 2, dim)
    out_units, out_shared, _ = module(units, shared)
    # reference: run each window on its own, average the attention updates, then the FFN
    starts = window_starts(length, 4)
    deltas = torch.zeros_like(units)
    counts = torch.zeros(length)
    shared_deltas = []
    for s in starts:
        seq = torch.cat([rearrange(units[:, s : s + 4], "b w k d -> b (w k) d"), shared], dim=1)
        delta, _ = module.attn(seq)
        deltas[:, s : s + 4] += rearrange(delta[:, : 4 * k], "b (w k) d -> b w k d", k=k)
        counts[s : s + 4] += 1
        shared_deltas.append(delta[:, 4 * k :])
    expect_units = units + deltas / counts[None, :, None, None]
    expect_units = expect_units + module.ff(expect_units)
    expect_shared = shared + torch.stack(shared_deltas).mean(0)
    expect_shared = expect_shared + module.ff(expect_shared)
    torch.testing.assert_close(out_units, expect_units, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out_shared, expect_shared, atol=1e-5, rtol=1e-5)


def test_attention_weights_are_a_distribution_over_keys():
    attn = MultiHeadAttention(16, 4).eval()
    x, ctx = torch.randn(2, 5, 16), torch.randn(2, 9, 16)
    out, weights = attn(x, ctx, need_weights=True)
    assert out.shape == (2, 5, 16) and weights.shape == (2, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))
    assert attn(x, ctx)[1] is None


def _zero_offsets(module: DeformableAttention3D, channels=(0, 1, 2)) -> None:
    with torch.no_grad():
        for c in channels:
            module.offset_proj.weight[c].zero_()
            module.offset_proj.bias[c].zero_()


def test_zero_offsets_sample_z_at_the_reference_points():
    torch.manual_seed(0)
    module = DeformableAttention3D(8, 2, kernel=(3, 5, 5), stride=(1, 2, 2))
    _zero_offsets(module)
    z = torch.randn(2, 6, 11, 13, 8)  # (B, T, h, w, d)
    grid, reference = module.sampling_grid(z)
    assert torch.equal(grid, reference.expand_as(grid))
    sampled = module.sample(z, grid)
    # the centre of output cell o of a valid conv (kernel k, stride s) is input index o*s + (k-1)/2
    expect = z[:, 1 : 1 + 4, 2 : 2 + 2 * 4 : 2, 2 : 2 + 2 * 5 : 2]  # T~=4, h~=4, w~=5
    assert grid.shape[1:4] == (4, 4, 5)
    # odd grid sizes: p is not a binary fraction, so equality holds up to float32 rounding of p
    torch.testing.assert_close(sampled, rearrange(expect, "b t h w d -> b (t h w) d"), atol=1e-5, rtol=0)
    # power-of-two grid sizes: p is exact in float32 and so is the sample
    z = torch.randn(2, 4, 8, 16, 8)
    grid, _ = module.sampling_grid(z)
    expect = z[:, 1:3, 2:6:2, 2:14:2]  # T~=2, h~=2, w~=6
    assert torch.equal(module.sample(z, grid), rearrange(expect, "b t h w d -> b (t h w) d"))


def test_single_frame_3d_search_equals_2d_deformable_sampling():
    torch.manual_seed(1)
    module = DeformableAttention3D(8, 2, kernel=(3, 3, 3), stride=(1, 1, 1), offset_range=(2.0, 3.0, 3.0))
    _zero_offsets(module, channels=(2,))  # no temporal offset; x, y offsets stay learned (non-zero)
    z = torch.randn(2, 1, 9, 10, 8)  # T = 1: the temporal kernel clamps to 1
    assert module.effective_kernel((1, 9, 10)) == (1, 3, 3)
    grid, reference = module.sampling_grid(z)
    assert not torch.allclose(grid[..., :2], reference[..., :2].expand_as(grid[..., :2]))  # offsets are real
    sampled_3d = module.sample(z, grid)
    frame = rearrange(z[:, 0], "b h w d -> b d h w")
    sampled_2d = F.grid_sample(
        frame, grid[:, 0, :, :, :2], mode="bilinear", padding_mode="border", align_corners=False
    )
    torch.testing.assert_close(
        sampled_3d, rearrange(sampled_2d, "b d h w -> b (h w) d"), atol=1e-5, rtol=1e-5
    )


def test_temporal_kernel_clamps_on_short_clips_and_offsets_stay_in_range():
    module = DeformableAttention3D(8, 2, kernel=(3, 7, 7), stride=(1, 3, 3), offset_range=(2.0, 2.0, 2.0))
    for t in (1, 2, 3, 5):
        z = torch.randn(1, t, 8, 8, 8)
        grid, reference = module.sampling_grid(z)
        assert grid.shape[1] == max(t - 3 + 1, 1)
        # |dp| <= range / grid size per axis, in (x, y, t) order
        limit = torch.tensor([2.0 / grid.shape[3], 2.0 / grid.shape[2], 2.0 / grid.shape[1]])
        assert ((grid - reference).abs() <= limit + 1e-6).all()
        z_out, side, expl = module(z, torch.randn(1, t, 2, 8), need_weights=True)
        assert z_out.shape == z.shape and side.shape == (1, t, 2, 8)
        assert expl["points"].shape[1] == expl["weight"].shape[1] == grid[0].numel() // 3
        assert (expl["points"] >= 0).all() and (expl["points"] <= 1).all()


def test_reference_points_are_cell_centres():
    ref = reference_points((4, 4, 4), (1, 1, 1), (1, 1, 1))
    # (x, y, t) of cell (t=0, y=1, x=3) in align_corners=False coordinates: (2 i + 1) / n - 1
    assert torch.allclose(ref[0, 1, 3], torch.tensor([0.75, -0.25, -0.75]))
