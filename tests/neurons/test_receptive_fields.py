"""Receptive fields (spec §6, without the bugs of §9.15)."""

from __future__ import annotations

import math

import pytest
import torch

import simctl.neurons.li_box as li_box_module
from simctl.neurons.containers import Lift
from simctl.neurons.receptive_fields import (
    DEFAULT_DOMAIN,
    ParameterizedSpatialReceptiveField2d,
    SampledSpatialReceptiveField2d,
    SpatialReceptiveField2d,
    TemporalReceptiveField,
    covariance_matrix,
    derivative_combinations,
    gaussian_kernel,
    spatial_parameters,
    spatial_receptive_field,
    spatial_receptive_fields_with_derivatives,
    temporal_scale_distribution,
)

needs_li_box = pytest.mark.skipif(
    not hasattr(li_box_module, "LIBoxCell"), reason="simctl.neurons.li_box not written yet"
)


def _rows() -> torch.Tensor:
    """simctl's 7-column rows (positions given), without replicas."""
    return spatial_parameters([1.0, 2.0], [0.0, 1.0], [0.5, 1.0], derivatives=1, x=[0.0], y=[0.0])


def test_covariance_matrix():
    torch.testing.assert_close(covariance_matrix(2.0, 1.0, 0.0), torch.tensor([[4.0, 0], [0, 1]]))
    rotated = covariance_matrix(2.0, 1.0, math.pi / 2)
    torch.testing.assert_close(rotated, torch.tensor([[1.0, 0], [0, 4]]), atol=1e-6, rtol=0)
    c = covariance_matrix(torch.tensor([1.0, 3.0]), 0.5, torch.tensor([0.3, 1.2]))
    assert c.shape == (2, 2, 2)
    torch.testing.assert_close(c, c.transpose(-1, -2))


def test_gaussian_kernel_density_and_centre():
    kernel = gaussian_kernel(201, torch.eye(2), domain=8.0)
    spacing = 16.0 / 200
    assert kernel.shape == (201, 201)
    assert abs(float(kernel.sum()) * spacing**2 - 1.0) < 1e-3
    shifted = gaussian_kernel(9, torch.eye(2) * 0.1, x=2.0, y=-4.0, domain=4.0)
    row, col = divmod(int(shifted.argmax()), 9)
    assert (row, col) == (0, 6)  # rows are y (grid[0] = -4), columns are x (grid[6] = 2)


def test_norse_defaults_and_explicit_domain():
    """Norse 1.1.0's defaults (8, 10 and 1) and positional order; with an explicit domain the
    module, the batch function and the single field draw the same row identically."""
    import inspect

    assert inspect.signature(gaussian_kernel).parameters["domain"].default == DEFAULT_DOMAIN
    assert inspect.signature(spatial_receptive_field).parameters["domain"].default == 10
    assert (
        inspect.signature(spatial_receptive_fields_with_derivatives).parameters["domain"].default
        == 1
    )
    assert list(inspect.signature(gaussian_kernel).parameters)[:3] == ["size", "c", "domain"]
    assert list(inspect.signature(spatial_receptive_field).parameters)[:7] == [
        "scale",
        "angle",
        "ratio",
        "size",
        "dx",
        "dy",
        "domain",
    ]
    for cls in (
        SpatialReceptiveField2d,
        SampledSpatialReceptiveField2d,
        ParameterizedSpatialReceptiveField2d,
    ):
        assert inspect.signature(cls).parameters["domain"].default == DEFAULT_DOMAIN
    rows = _rows()
    layer = SpatialReceptiveField2d(1, 9, rows)
    batch = spatial_receptive_fields_with_derivatives(rows, 9, DEFAULT_DOMAIN)
    torch.testing.assert_close(layer.weights[:, 0], batch)
    scale, angle, ratio = rows[4, :3].tolist()
    single = spatial_receptive_field(scale, angle, ratio, 9, 0, 1, DEFAULT_DOMAIN)
    torch.testing.assert_close(batch[4], single)


def test_spatial_receptive_field_normalised():
    for scale, angle, ratio in [(1.0, 0.0, 1.0), (3.0, 0.7, 0.4), (0.5, 2.0, 2.0)]:
        field = spatial_receptive_field(scale, angle, ratio, 9)
        assert field.shape == (9, 9)
        torch.testing.assert_close(field.sum(), torch.tensor(1.0))


def test_derivative_fields_are_odd():
    field = spatial_receptive_field(20.0, 0.0, 1.0, size=9, dx=1)
    # the first derivative along x of a centred Gaussian flips sign under x -> -x
    torch.testing.assert_close(field, -field.flip(-1))
    assert field.abs().sum() > 0
    along_y = spatial_receptive_field(20.0, 0.0, 1.0, size=9, dy=1)
    torch.testing.assert_close(along_y, field.transpose(0, 1), atol=1e-7, rtol=1e-5)


def test_derivative_combinations():
    assert derivative_combinations(1) == [(0, 0), (0, 1), (1, 0)]
    assert len(derivative_combinations(2)) == 8
    assert derivative_combinations(0) == [(0, 0)]


def test_spatial_parameters_rows():
    rows = _rows()
    assert rows.shape == (18, 7)
    # ratio-1 fields use the first angle only
    assert set(rows[rows[:, 2] == 1][:, 1].tolist()) == {0.0}
    replicas = spatial_parameters(
        [1.0, 2.0], [0.0, 1.0], [0.5, 1.0], derivatives=1, include_replicas=True, x=[0.0]
    )
    assert replicas.shape == (24, 7)
    positions = spatial_parameters([1.0], [0.0], [1.0], 0, x=[0.0, 1.0, 2.0], y=[0.0, -1.0])
    assert positions.shape == (6, 7)
    explicit = spatial_parameters([1.0], [0.0, 1.0], [0.5], [(0, 0), (2, 1)], y=[0.0])
    assert explicit.shape == (4, 7)
    assert explicit[:, 5:].tolist() == [[0, 0], [2, 1], [0, 0], [2, 1]]


def test_spatial_parameters_gradient():
    scales = torch.tensor([1.0, 2.0], requires_grad=True)
    rows = spatial_parameters(scales, [0.0, 1.0], [0.5], 0, x=[0.0])
    rows[:, 0].sum().backward()
    assert scales.grad.tolist() == [2.0, 2.0]


def test_fields_with_derivatives_shape():
    fields = spatial_receptive_fields_with_derivatives(_rows(), 9)
    assert fields.shape == (18, 9, 9)
    assert torch.isfinite(fields).all()
    with pytest.raises(ValueError, match=r"\(n, 7\).*\(n, 5\)"):
        spatial_receptive_fields_with_derivatives(torch.ones(3, 4), 9)


def test_temporal_scale_distribution():
    torch.testing.assert_close(
        temporal_scale_distribution(4),
        torch.tensor([1.0, 1.414, 2.0, 2.828]),
        atol=1e-3,
        rtol=0,
    )


@pytest.mark.parametrize(
    ("n", "low", "high"), [(4, 1.0, 8.0), (5, 2.0, 32.0), (3, 1.0, 100.0), (6, 0.5, 0.9)]
)
def test_temporal_scale_distribution_max_scale(n, low, high):
    """Fixed (spec §9.15): increasing, in [sqrt(min), sqrt(max)], geometric in variance."""
    scales = temporal_scale_distribution(n, min_scale=low, max_scale=high)
    assert scales.shape == (n,)
    assert (scales[1:] > scales[:-1]).all()
    torch.testing.assert_close(scales[0], torch.tensor(math.sqrt(low)))
    torch.testing.assert_close(scales[-1], torch.tensor(math.sqrt(high)))
    ratios = scales[1:] / scales[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, float(ratios[0])))


def test_temporal_scale_distribution_max_matches_default():
    torch.testing.assert_close(
        temporal_scale_distribution(4, 1, 8),
        torch.tensor([1.0, 1.414, 2.0, 2.828]),
        atol=1e-3,
        rtol=0,
    )
    with pytest.raises(ValueError):
        temporal_scale_distribution(4, 2.0, 1.0)


def test_spatial_receptive_field_2d_shapes():
    rows = _rows()
    layer = SpatialReceptiveField2d(3, 9, rows, padding=4)
    assert layer.weights.shape == (18, 3, 9, 9)
    assert layer(torch.randn(2, 3, 20, 20)).shape == (2, 18, 20, 20)
    assert layer.rf_parameters.shape == (18, 7)
    torch.testing.assert_close(layer.rf_parameters, rows)


def test_spatial_receptive_field_2d_aggregate_false():
    """aggregate=False: output channel c·n + k is field k on input channel c alone."""
    rows = _rows()
    separate = SpatialReceptiveField2d(3, 9, rows, aggregate=False)
    summed = SpatialReceptiveField2d(3, 9, rows)
    data = torch.randn(2, 3, 12, 12)
    out = separate(data)
    assert separate.weights.shape == (54, 1, 9, 9)
    assert separate.out_channels == 54
    assert out.shape == (2, 54, 4, 4)
    per_channel = out.view(2, 3, 18, 4, 4)
    torch.testing.assert_close(per_channel.sum(1), summed(data), atol=1e-5, rtol=1e-5)
    single = torch.nn.functional.conv2d(data[:, 1:2], summed.weights[:, :1])
    torch.testing.assert_close(per_channel[:, 1], single)


def test_spatial_receptive_field_2d_rejects_groups():
    with pytest.raises(ValueError, match="groups"):
        SpatialReceptiveField2d(3, 9, _rows(), groups=3)


def test_optimize_log_parameters():
    layer = SpatialReceptiveField2d(1, 9, _rows())
    names = dict(layer.named_parameters())
    assert set(names) == {"log_scales", "angles", "log_ratios", "x", "y"}
    torch.testing.assert_close(torch.exp(names["log_scales"]), _rows()[:, 0])
    plain = SpatialReceptiveField2d(1, 9, _rows(), optimize_log=False)
    assert set(dict(plain.named_parameters())) == {"scales", "angles", "ratios", "x", "y"}
    frozen = SpatialReceptiveField2d(1, 9, _rows(), optimize_fields=False)
    assert list(frozen.parameters()) == []


def _loss(layer: torch.nn.Module, channels: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    data = torch.randn(2, channels, 15, 15, generator=generator)
    out = layer(data)
    target = torch.randn(out.shape, generator=generator)
    return ((out - target) ** 2).mean()


@pytest.mark.parametrize("aggregate", [True, False])
def test_spatial_gradients_nonzero(aggregate):
    rows = spatial_parameters([2.0, 4.0], [0.3, 1.0], [0.5, 2.0], 1, x=[0.5], y=[-0.5])
    layer = SpatialReceptiveField2d(2, 9, rows, aggregate=aggregate, domain=4.0, padding=2)
    _loss(layer, 2).backward()
    for name, parameter in layer.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "cls", [SampledSpatialReceptiveField2d, ParameterizedSpatialReceptiveField2d]
)
def test_generated_gradients_nonzero(cls):
    layer = cls(1, 9, [2.0, 4.0], [0.3, 1.0], [0.5, 2.0], 1, x=[0.5], y=[-0.5], domain=4.0)
    _loss(layer).backward()
    names = {name for name, _ in layer.named_parameters()}
    assert names == {"log_scales", "angles", "log_ratios", "x", "y"}
    for name, parameter in layer.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


def test_sampled_and_parameterized_shapes():
    sampled = SampledSpatialReceptiveField2d(
        2, 9, [1.0, 2.0], [0.0, 1.0], [0.5, 1.0], 1, x=[0.0], y=[0.0]
    )
    parameterized = ParameterizedSpatialReceptiveField2d(
        2, 9, [1.0, 2.0], [0.0, 1.0], [0.5, 1.0], 1, x=[0.0], y=[0.0]
    )
    assert sampled.log_scales.shape == (2,)
    assert parameterized.log_scales.shape == (18,)
    torch.testing.assert_close(sampled.rf_parameters, _rows())
    torch.testing.assert_close(parameterized.rf_parameters, _rows())
    torch.testing.assert_close(sampled.weights, parameterized.weights)
    assert sampled(torch.ones(1, 2, 9, 9)).shape == (1, 18, 1, 1)


def test_optimize_flags():
    layer = SampledSpatialReceptiveField2d(
        1,
        9,
        [2.0],
        [0.0, 1.0],
        [0.5],
        0,
        optimize_angles=False,
        x=[0.0],
        y=[0.0],
        optimize_x=False,
    )
    names = {name for name, _ in layer.named_parameters()}
    assert names == {"log_scales", "log_ratios", "y"}
    buffers = {name for name, _ in layer.named_buffers()}
    assert {"angles", "x"} <= buffers


@pytest.mark.parametrize(
    "cls", [SampledSpatialReceptiveField2d, ParameterizedSpatialReceptiveField2d]
)
def test_lazy_weight_update_after_optimiser_step(cls):
    layer = cls(1, 9, [2.0, 4.0], [0.3, 1.0], [0.5, 2.0], 0, domain=4.0)
    optimiser = torch.optim.SGD(layer.parameters(), lr=1.0)
    before = layer.weights.clone()
    probe = torch.randn(1, 1, 9, 9, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out_before = layer(probe)
    _loss(layer).backward()
    optimiser.step()
    # no gradient needed here: the cached weights must notice the parameter change
    with torch.no_grad():
        out_after = layer(probe)
    assert not torch.allclose(layer.weights, before)
    assert not torch.allclose(out_after, out_before)
    expected = spatial_receptive_fields_with_derivatives(layer.rf_parameters.detach(), 9, 4.0)
    torch.testing.assert_close(layer.weights[:, 0], expected)


def test_repeated_training_steps():
    layer = SpatialReceptiveField2d(1, 9, _rows(), padding=4)
    optimiser = torch.optim.Adam(layer.parameters(), lr=0.01)
    for _ in range(3):
        optimiser.zero_grad()
        _loss(layer).backward()  # a fresh graph every step: no "backward twice" error
        optimiser.step()
    assert torch.isfinite(layer.weights).all()


def test_weights_follow_load_state_dict_and_dtype():
    source = SpatialReceptiveField2d(1, 9, spatial_parameters([3.0], [0.5], [0.5], 0))
    target = SpatialReceptiveField2d(1, 9, spatial_parameters([1.0], [0.0], [2.0], 0))
    assert "weights" not in target.state_dict()
    target.load_state_dict(source.state_dict())
    with torch.no_grad():
        target(torch.ones(1, 1, 9, 9))
    torch.testing.assert_close(target.weights, source.weights)
    target.to(torch.float64)
    assert target.weights.dtype == torch.float64
    assert target(torch.ones(1, 1, 9, 9, dtype=torch.float64)).dtype == torch.float64


@needs_li_box
def test_temporal_receptive_field_shapes():
    field = TemporalReceptiveField((2, 5, 5), n_scales=4)
    assert field.ps.shape == (4, 2, 1, 1)
    torch.testing.assert_close(field.ps[:, 0, 0, 0], 1000.0 / temporal_scale_distribution(4))
    out, state = field(torch.ones(3, 2, 5, 5))
    assert out.shape == (3, 4, 2, 5, 5)
    out, state = field(torch.ones(3, 2, 5, 5), state)
    assert out.shape == (3, 4, 2, 5, 5)


@needs_li_box
def test_temporal_receptive_field_lifted_and_gradient():
    field = TemporalReceptiveField((1, 4), n_scales=3, min_scale=1.0, max_scale=16.0)
    out, _ = Lift(field)(torch.rand(6, 2, 1, 4))
    assert out.shape == (6, 2, 3, 1, 4)
    out.sum().backward()
    assert field.ps.grad is not None
    assert field.ps.grad.abs().sum() > 0
    # larger scales integrate more slowly: less output after a few steps
    totals = out.detach().sum(dim=(0, 1, 3, 4))
    assert (totals[1:] < totals[:-1]).all()


@needs_li_box
def test_temporal_receptive_field_time_constants_and_dtype():
    field = TemporalReceptiveField((2,), time_constants=[0.002, 0.004])
    assert field.n_scales == 2
    torch.testing.assert_close(field.ps[:, 0], torch.tensor([500.0, 250.0]))
    field.to(torch.float64)
    out, _ = field(torch.ones(3, 2, dtype=torch.float64))
    assert out.dtype == torch.float64
    assert out.shape == (3, 2, 2)


def test_deepcopy_and_eval_cache():
    import copy

    layer = SpatialReceptiveField2d(1, 9, _rows(), padding=4)
    _loss(layer).backward()  # leaves a graph-built weight behind
    clone = copy.deepcopy(layer)
    torch.testing.assert_close(clone.weights, layer.weights)
    with torch.no_grad():
        first = clone(torch.ones(1, 1, 9, 9))
        assert clone._forward_weights() is clone.weights  # cached when nothing changed
        torch.testing.assert_close(clone(torch.ones(1, 1, 9, 9)), first)


# ---------------------------------------------------------------- Norse 1.1.0's rows


def test_norse_rows_count_and_order():
    """Norse 1.1.0: every scale × angle × ratio, round fields at every angle, derivatives
    ``n = 1`` giving (0,0), (0,1), (1,0), (1,1); without replicas the non-round ratio comes
    first. 2 × 2 × 2 × 4 = 32 rows; with three of each and replicas 3·3·3·4 = 108."""
    rows = spatial_parameters(
        torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.5]), 1
    )
    assert rows.shape == (32, 5)
    assert rows[:4, 3:].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert rows[:16, 2].tolist() == [0.5] * 16 and rows[16:, 2].tolist() == [1.0] * 16
    assert rows[:4, :3].tolist() == [[1.0, 0.0, 0.5]] * 4
    scales = torch.tensor([0.2, 0.5, 1.0], requires_grad=True)
    many = spatial_parameters(scales, [0.0, 1.0, 2.0], [0.2, 0.5, 1.0], 1, include_replicas=True)
    assert many.shape == (108, 5)
    many[:, 0].sum().backward()
    assert scales.grad.tolist() == [36.0, 36.0, 36.0]


def test_five_column_rows_are_centred_fields():
    """A 5-column row is the 7-column row with x = y = 0, in the functions and the module
    (whose positions are then fixed buffers)."""
    five = spatial_parameters([2.0], [0.3], [0.5], [(0, 0), (1, 0)])
    seven = spatial_parameters([2.0], [0.3], [0.5], [(0, 0), (1, 0)], x=[0.0], y=[0.0])
    torch.testing.assert_close(five, torch.cat([seven[:, :3], seven[:, 5:]], 1))
    torch.testing.assert_close(
        spatial_receptive_fields_with_derivatives(five, 9, 4.0),
        spatial_receptive_fields_with_derivatives(seven, 9, 4.0),
    )
    layer = SpatialReceptiveField2d(1, 9, five, domain=4.0)
    assert set(dict(layer.named_parameters())) == {"log_scales", "angles", "log_ratios"}
    torch.testing.assert_close(layer.rf_parameters, seven)
    sampled = SampledSpatialReceptiveField2d(1, 9, [1.0, 2.0], [0.0, 1.0], [0.5, 1.0], 1)
    assert sampled.n_fields == 32
    assert set(dict(sampled.named_parameters())) == {"log_scales", "angles", "log_ratios"}


def test_norse_positional_calls():
    """Norse 1.1.0's calls: the third argument of gaussian_kernel is the domain, the fourth of
    spatial_receptive_field the size (spec §6)."""
    c = covariance_matrix(2.0, 0.5, 0.0)
    torch.testing.assert_close(gaussian_kernel(9, c, 4.0), gaussian_kernel(9, c, domain=4.0))
    assert spatial_receptive_field(1.0, 0.0, 1.0, 9).shape == (9, 9)
    torch.testing.assert_close(
        spatial_receptive_field(1.0, 0.0, 1.0, 9, 1, 0),
        spatial_receptive_field(1.0, 0.0, 1.0, size=9, dx=1, domain=10.0),
    )


def test_derive_kernel_and_normalisation():
    """A ramp ``k[i, j] = j`` has unit slope along x (angle 0) and none along y (π/2); the
    normalisation with gamma = 1 is the scale itself."""
    from simctl.neurons.receptive_fields import (
        calculate_normalization,
        derive_kernel,
        derive_spatial_receptive_field,
        spatio_temporal_parameters,
    )

    ramp = torch.arange(4.0).expand(4, 4)
    torch.testing.assert_close(derive_kernel(ramp, 0.0), torch.ones(4, 4))
    torch.testing.assert_close(
        derive_kernel(ramp, math.pi / 2), torch.zeros(4, 4), atol=1e-6, rtol=0
    )
    assert calculate_normalization(3, 2.5) == 2.5
    field = spatial_receptive_field(2.0, 0.3, 0.5, 9, domain=4.0)
    derived = derive_spatial_receptive_field(field, 2.0, 0.3, [(0, 0), (1, 0), (0, 1)])
    torch.testing.assert_close(derived[1], spatial_receptive_field(2.0, 0.3, 0.5, 9, 1, 0, 4.0))
    torch.testing.assert_close(derived[2], spatial_receptive_field(2.0, 0.3, 0.5, 9, 0, 1, 4.0))
    rows = spatio_temporal_parameters([1.0], [0.0, 1.0], [1.0], 0, torch.tensor([1.0, 2.0, 4.0]))
    assert rows.shape == (6, 6) and rows[:3, 5].tolist() == [1.0, 2.0, 4.0]
