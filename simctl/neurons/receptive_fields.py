r"""Receptive fields from Lindeberg's scale-space theory: Gaussian derivatives in space, leaky
integrators in time.

**Spatial fields.** A field is an anisotropic Gaussian

.. math::
    G(\mathbf p) = \frac{1}{2\pi\sqrt{\det\Sigma}}
        \exp\!\left(-\tfrac12 (\mathbf p - \mu)^\top \Sigma^{-1} (\mathbf p - \mu)\right),
    \qquad \Sigma = s \cdot R_\varphi \operatorname{diag}(r^2, r^{-2}) R_\varphi^\top,

with scale ``s`` (a variance), angle :math:`\varphi` (radians), ratio ``r`` (anisotropy; 1 is
round) and centre :math:`\mu = (x, y)`. It is sampled on the square grid
``linspace(-domain, domain, size)`` on both axes (``kernel[i, j]`` is the point
``(grid[j], grid[i])``: columns are x, rows are y), normalised to sum 1, then differentiated
``dx`` times along :math:`\varphi` and ``dy`` times along :math:`\varphi + \pi/2` with central
finite differences (:func:`torch.gradient`, unit spacing: per pixel). Each derivative is
multiplied by the scale normalisation factor ``s`` (Lindeberg's normalisation with
:math:`\gamma = 1` as the library defines it), so a field of order ``dx + dy`` carries
:math:`s^{dx+dy}`.

A field is described by one row of 7 numbers ``(scale, angle, ratio, x, y, dx, dy)``, or, as in
Norse 1.1.0, of 5 numbers ``(scale, angle, ratio, dx, dy)`` centred at the origin;
:func:`spatial_parameters` builds such rows as a Cartesian product (5 columns unless positions
``x``/``y`` are given).

**Norse 1.1.0's signatures.** The functions take Norse 1.1.0's positional arguments and
defaults, so Norse code runs unchanged: ``gaussian_kernel(size, c, domain=8)``,
``spatial_receptive_field(scale, angle, ratio, size, dx=0, dy=0, domain=10)``,
``spatial_receptive_fields_with_derivatives(combinations, size, domain=1)``,
``spatial_parameters(scales, angles, ratios, derivatives, include_replicas=False)``; the
centre ``x``/``y`` (Norse's later versions) comes after them. Note the three defaults of
``domain`` differ (8, 10, 1) as in Norse: pass ``domain`` to draw a row the same way everywhere;
the modules use :data:`DEFAULT_DOMAIN`.

**Temporal fields.** :func:`temporal_scale_distribution` spaces temporal variances
geometrically and :class:`TemporalReceptiveField` runs one leaky integrator (``LIBoxCell``) per
scale.

Examples:
    >>> import torch
    >>> rows = spatial_parameters([1.0, 2.0], [0.0, 1.0], [0.5, 1.0], 1, x=[0.0], y=[0.0])
    >>> rows.shape
    torch.Size([18, 7])
    >>> fields = spatial_receptive_fields_with_derivatives(rows, size=9)
    >>> fields.shape
    torch.Size([18, 9, 9])
    >>> layer = SpatialReceptiveField2d(3, 9, rows, padding=4)
    >>> layer(torch.ones(2, 3, 16, 16)).shape
    torch.Size([2, 18, 16, 16])
    >>> spatial_parameters(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]),
    ...                    torch.tensor([0.5, 1.0]), 1).shape  # Norse 1.1.0's rows
    torch.Size([32, 5])
    >>> temporal_scale_distribution(4)
    tensor([1.0000, 1.4142, 2.0000, 2.8284])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ._keywords import keyword_aliases

__all__ = [
    "DEFAULT_DOMAIN",
    "gaussian_kernel",
    "covariance_matrix",
    "spatial_receptive_field",
    "spatial_receptive_fields_with_derivatives",
    "spatial_parameters",
    "spatio_temporal_parameters",
    "derivative_combinations",
    "derive_kernel",
    "calculate_normalization",
    "derive_spatial_receptive_field_single",
    "derive_spatial_receptive_field",
    "temporal_scale_distribution",
    "SpatialReceptiveField2d",
    "SampledSpatialReceptiveField2d",
    "ParameterizedSpatialReceptiveField2d",
    "TemporalReceptiveField",
]

DEFAULT_DOMAIN: float = 8.0
"""Half-width of the sampling grid, ``linspace(-domain, domain, size)``, of the modules and of
:func:`gaussian_kernel` (Norse's default)."""

_Number = float | int | torch.Tensor


def _as_tensor(value: Any, reference: torch.Tensor | None = None) -> torch.Tensor:
    """Tensors pass through (graph kept); numbers become tensors like ``reference``."""
    if isinstance(value, torch.Tensor):
        return value
    if reference is not None:
        return torch.as_tensor(value, dtype=reference.dtype, device=reference.device)
    return torch.as_tensor(value, dtype=torch.get_default_dtype())


def _float_reference(*values: Any) -> torch.Tensor | None:
    for value in values:
        if isinstance(value, torch.Tensor) and torch.is_floating_point(value):
            return value
    return None


def covariance_matrix(sigma1: _Number, sigma2: _Number, phi: _Number) -> torch.Tensor:
    r"""The covariance :math:`R_\varphi \operatorname{diag}(\sigma_1^2, \sigma_2^2) R_\varphi^\top`.

    Arguments broadcast against each other; the result has shape ``(..., 2, 2)``. Single
    values (numbers, or tensors of one element such as ``tensor([0.5])``) give one ``(2, 2)``
    matrix, as in Norse.

    Examples:
        >>> covariance_matrix(2.0, 1.0, 0.0)
        tensor([[4., 0.],
                [0., 1.]])
    """
    matrix = _covariance(sigma1, sigma2, phi)
    if all(not isinstance(v, torch.Tensor) or v.numel() == 1 for v in (sigma1, sigma2, phi)):
        return matrix.reshape(2, 2)
    return matrix


def _covariance(sigma1: _Number, sigma2: _Number, phi: _Number) -> torch.Tensor:
    """:func:`covariance_matrix`, always batched ``(..., 2, 2)``."""
    reference = _float_reference(sigma1, sigma2, phi)
    s1, s2, angle = torch.broadcast_tensors(
        _as_tensor(sigma1, reference), _as_tensor(sigma2, reference), _as_tensor(phi, reference)
    )
    cos, sin = torch.cos(angle), torch.sin(angle)
    var1, var2 = s1 * s1, s2 * s2
    c00 = cos * cos * var1 + sin * sin * var2
    c11 = sin * sin * var1 + cos * cos * var2
    c01 = cos * sin * (var1 - var2)
    return torch.stack([torch.stack([c00, c01], -1), torch.stack([c01, c11], -1)], -2)


def gaussian_kernel(
    size: int,
    c: torch.Tensor,
    domain: float = DEFAULT_DOMAIN,
    x: _Number = 0.0,
    y: _Number = 0.0,
) -> torch.Tensor:
    """A 2-D Gaussian density with covariance ``c`` centred at ``(x, y)`` on a ``size`` grid.

    The grid is ``linspace(-domain, domain, size)`` on both axes; ``kernel[..., i, j]`` is the
    density at ``(grid[j], grid[i])``. The density is not renormalised (see
    :func:`spatial_receptive_field` for normalised fields).

    Args:
        size: grid points per axis.
        c: covariance, ``(2, 2)`` or batched ``(..., 2, 2)``.
        domain: half-width of the grid (Norse 1.1.0's third argument).
        x, y: centre (numbers or tensors broadcasting against ``c``'s batch shape).

    Returns:
        ``(..., size, size)``.

    Examples:
        >>> import torch
        >>> kernel = gaussian_kernel(5, torch.eye(2), domain=2.0)
        >>> kernel.shape, int(kernel.argmax())
        (torch.Size([5, 5]), 12)
    """
    c = _as_tensor(c)
    if c.shape[-2:] != (2, 2):
        raise ValueError(f"the covariance must have shape (..., 2, 2), got {tuple(c.shape)}")
    x = _as_tensor(x, c)
    y = _as_tensor(y, c)
    a, b, d = c[..., 0, 0], c[..., 0, 1], c[..., 1, 1]
    det = a * d - b * c[..., 1, 0]
    grid = torch.linspace(-domain, domain, size, dtype=c.dtype, device=c.device)
    # (..., 1, size) offsets along x (columns), (..., size, 1) along y (rows)
    dx = grid.view(1, size) - x[..., None, None]
    dy = grid.view(size, 1) - y[..., None, None]
    det_, a_, b_, d_ = (t[..., None, None] for t in (det, a, b, d))
    # (p - mu)^T C^{-1} (p - mu) with the closed-form inverse of a symmetric 2x2 matrix
    quadratic = (d_ * dx * dx - 2 * b_ * dx * dy + a_ * dy * dy) / det_
    return torch.exp(-0.5 * quadratic) / (2 * math.pi * torch.sqrt(det_))


def _directional_derivative(kernel: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """First derivative of ``(n, size, size)`` kernels along ``angle`` ``(n,)`` (per pixel)."""
    d_rows, d_cols = torch.gradient(kernel, dim=(-2, -1))
    angle = angle[:, None, None]
    return torch.cos(angle) * d_cols + torch.sin(angle) * d_rows


def _fields(
    scale: torch.Tensor,
    angle: torch.Tensor,
    ratio: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    dx: Sequence[int],
    dy: Sequence[int],
    size: int,
    domain: float,
) -> torch.Tensor:
    """Batched fields ``(n, size, size)`` from 1-D parameter tensors (graph kept)."""
    covariance = _covariance(ratio, 1.0 / ratio, angle) * scale[:, None, None]
    kernel = gaussian_kernel(size, covariance, domain, x, y)
    kernel = kernel / kernel.sum(dim=(-2, -1), keepdim=True)
    dx_t = torch.as_tensor(list(dx), dtype=torch.long, device=kernel.device)
    dy_t = torch.as_tensor(list(dy), dtype=torch.long, device=kernel.device)
    for order, direction, offset in ((dx_t, angle, 0.0), (dy_t, angle, math.pi / 2)):
        for k in range(int(order.max()) if order.numel() else 0):
            active = (order > k)[:, None, None]
            derivative = _directional_derivative(kernel, direction + offset)
            kernel = torch.where(active, derivative * scale[:, None, None], kernel)
    return kernel


def spatial_receptive_field(
    scale: _Number,
    angle: _Number,
    ratio: _Number,
    size: int = 9,
    dx: int = 0,
    dy: int = 0,
    domain: float = 10.0,
    x: _Number = 0.0,
    y: _Number = 0.0,
) -> torch.Tensor:
    """One normalised (derivative) field of shape ``(size, size)``; see the module docstring.

    Args:
        scale: the variance factor ``s`` of the covariance (> 0).
        angle: orientation in radians.
        ratio: anisotropy ``r`` (> 0): variances ``s·r²`` along ``angle`` and ``s/r²`` across.
        size: grid points per axis.
        dx, dy: derivative orders along ``angle`` and ``angle + π/2``.
        domain: half-width of the grid (10, Norse 1.1.0's default for this function).
        x, y: centre, in grid units (the grid spans ``[-domain, domain]``).

    Examples:
        >>> field = spatial_receptive_field(2.0, 0.0, 1.0, size=9)
        >>> field.shape, round(float(field.sum()), 4)
        (torch.Size([9, 9]), 1.0)
    """
    reference = _float_reference(scale, angle, ratio, x, y)
    values = [_as_tensor(v, reference).reshape(1) for v in (scale, angle, ratio, x, y)]
    return _fields(*values, [int(dx)], [int(dy)], size, domain)[0]


def spatial_receptive_fields_with_derivatives(
    combinations: torch.Tensor, size: int, domain: float = 1.0
) -> torch.Tensor:
    """Fields for every row ``(scale, angle, ratio, x, y, dx, dy)`` (or Norse 1.1.0's
    ``(scale, angle, ratio, dx, dy)``, centred at 0) of ``combinations``.

    ``domain`` defaults to 1 as in Norse 1.1.0.

    Returns:
        ``(n, size, size)``; gradients flow to the scale, angle, ratio (and x, y) columns.
    """
    combinations = _seven_columns(combinations, "combinations")
    orders = combinations[:, 5:7].detach().round().long().tolist()
    return _fields(
        *combinations[:, :5].unbind(1),
        [o[0] for o in orders],
        [o[1] for o in orders],
        size,
        domain,
    )


def _seven_columns(rows: torch.Tensor, name: str) -> torch.Tensor:
    """``(n, 7)`` rows; Norse 1.1.0's ``(n, 5)`` rows get the centre ``x = y = 0``."""
    if rows.dim() == 2 and rows.shape[1] == 5:
        zeros = torch.zeros_like(rows[:, :2]).detach()
        return torch.cat([rows[:, :3], zeros, rows[:, 3:5]], dim=1)
    if rows.dim() != 2 or rows.shape[1] != 7:
        raise ValueError(
            f"{name} must have shape (n, 7): (scale, angle, ratio, x, y, dx, dy), or Norse "
            f"1.1.0's (n, 5): (scale, angle, ratio, dx, dy); got {tuple(rows.shape)}"
        )
    return rows


def derive_kernel(kernel: torch.Tensor, angle: _Number) -> torch.Tensor:
    """The first directional derivative of a ``(size, size)`` kernel along ``angle`` (per
    pixel, central differences): ``cos(angle)·∂/∂x + sin(angle)·∂/∂y`` with x along the
    columns. Norse 1.1.0's helper of the same name.

    Examples:
        >>> import torch
        >>> derive_kernel(torch.arange(3.0).expand(3, 3), 0.0)[0].tolist()
        [1.0, 1.0, 1.0]
    """
    angle = _as_tensor(angle, kernel if torch.is_floating_point(kernel) else None)
    return _directional_derivative(kernel[None], angle.reshape(1))[0]


def calculate_normalization(dx: int, scale: _Number, gamma: float = 1.0) -> Any:
    r"""Lindeberg's scale normalisation of a derivative of order ``dx`` at variance ``scale``:
    :math:`s^{dx(1-\gamma)} \cdot (s^2)^{\gamma/2}`, which is ``scale`` for ``gamma = 1``
    (the factor :func:`spatial_receptive_field` applies per derivative).

    Examples:
        >>> calculate_normalization(1, 2.0), calculate_normalization(2, 4.0, gamma=0.5)
        (2.0, 8.0)
    """
    return scale ** (dx * (1 - gamma)) * (scale**2) ** (gamma / 2)


def derive_spatial_receptive_field_single(
    field: torch.Tensor, scale: _Number, angle: _Number, dx: int, dy: int
) -> torch.Tensor:
    """``dx`` derivatives of ``field`` along ``angle`` and ``dy`` along ``angle + π/2``, each
    multiplied by :func:`calculate_normalization` ``(1, scale)`` (``= scale``)."""
    angle_t = _as_tensor(angle, field)
    for order, offset in ((int(dx), 0.0), (int(dy), math.pi / 2)):
        for _ in range(order):
            field = derive_kernel(field, angle_t + offset) * calculate_normalization(1, scale)
    return field


def derive_spatial_receptive_field(
    field: torch.Tensor, scale: _Number, angle: _Number, derivatives: Sequence[tuple[int, int]]
) -> torch.Tensor:
    """``(len(derivatives), size, size)``: :func:`derive_spatial_receptive_field_single` for
    every ``(dx, dy)`` pair."""
    return torch.stack(
        [derive_spatial_receptive_field_single(field, scale, angle, a, b) for a, b in derivatives]
    )


def derivative_combinations(n: int) -> list[tuple[int, int]]:
    """Every ``(dx, dy)`` with ``0 <= dx, dy <= n`` except ``(n, n)``.

    Examples:
        >>> derivative_combinations(1)
        [(0, 0), (0, 1), (1, 0)]
    """
    if n < 0:
        raise ValueError(f"the derivative order must be >= 0, got {n}")
    return [(i, j) for i in range(n + 1) for j in range(n + 1) if (i, j) != (n, n) or n == 0]


def _normalise_derivatives(derivatives: Any) -> list[tuple[int, int]]:
    if isinstance(derivatives, int):
        return derivative_combinations(derivatives)
    if isinstance(derivatives, torch.Tensor):
        derivatives = derivatives.tolist()
    pairs = [(int(pair[0]), int(pair[1])) for pair in derivatives]
    if any(dx < 0 or dy < 0 for dx, dy in pairs):
        raise ValueError("derivative orders must be >= 0")
    return pairs


def _vector(values: Any, reference: torch.Tensor | None = None) -> torch.Tensor:
    tensor = _as_tensor(values, reference) if not isinstance(values, torch.Tensor) else values
    return tensor.reshape(-1)


def _parameter_indices(
    ratios: torch.Tensor,
    n_scales: int,
    n_angles: int,
    n_x: int,
    n_y: int,
    derivatives: list[tuple[int, int]],
    include_replicas: bool,
) -> tuple[list[tuple[int, int, int, int, int]], list[tuple[int, int]]]:
    """Index rows ``(scale, angle, ratio, x, y)`` and derivative rows of the product."""
    round_field = (ratios.detach() == 1).tolist()
    indices: list[tuple[int, int, int, int, int]] = []
    orders: list[tuple[int, int]] = []
    for s, a, r, ix, iy in itertools.product(
        range(n_scales), range(n_angles), range(len(round_field)), range(n_x), range(n_y)
    ):
        if round_field[r] and a > 0 and not include_replicas:
            continue  # a round field looks the same at every angle
        for pair in derivatives:
            indices.append((s, a, r, ix, iy))
            orders.append(pair)
    return indices, orders


def _gather_rows(
    columns: Sequence[torch.Tensor],
    indices: list[tuple[int, int, int, int, int]],
    orders: list[tuple[int, int]],
) -> torch.Tensor:
    reference = columns[0]
    index = torch.as_tensor(indices, dtype=torch.long, device=reference.device).reshape(-1, 5)
    gathered = [column[index[:, k]] for k, column in enumerate(columns)]
    order = torch.as_tensor(orders, dtype=reference.dtype, device=reference.device)
    order = order.reshape(-1, 2)
    return torch.stack([*gathered, order[:, 0], order[:, 1]], dim=1)


def _norse_derivatives(derivatives: Any) -> list[tuple[int, int]]:
    """Norse 1.1.0's expansion: ``n`` gives every ``(i, j)`` in ``{0..n}²`` (``(n, n)``
    included)."""
    if isinstance(derivatives, int):
        return [(i, j) for i in range(derivatives + 1) for j in range(derivatives + 1)]
    return _normalise_derivatives(derivatives)


def _norse_indices(
    ratios: torch.Tensor,
    n_scales: int,
    n_angles: int,
    derivatives: list[tuple[int, int]],
    include_replicas: bool,
) -> tuple[list[tuple[int, int, int, int, int]], list[tuple[int, int]]]:
    """Norse 1.1.0's product: every scale × angle × ratio (round fields keep every angle);
    without ``include_replicas`` the non-round ratios come first."""
    round_field = (ratios.detach() == 1).tolist()
    every = list(range(len(round_field)))
    if include_replicas or not any(round_field):
        blocks = [every]
    else:
        blocks = [[r for r in every if not round_field[r]], [r for r in every if round_field[r]]]
    indices: list[tuple[int, int, int, int, int]] = []
    orders: list[tuple[int, int]] = []
    for block in blocks:
        for s, a, r in itertools.product(range(n_scales), range(n_angles), block):
            for pair in derivatives:
                indices.append((s, a, r, 0, 0))
                orders.append(pair)
    return indices, orders


def spatial_parameters(
    scales: Any,
    angles: Any,
    ratios: Any,
    derivatives: int | Sequence[tuple[int, int]] | torch.Tensor,
    include_replicas: bool = False,
    x: Any = None,
    y: Any = None,
) -> torch.Tensor:
    """Field rows for the Cartesian product of the arguments.

    * Without ``x`` and ``y`` (Norse 1.1.0's call): rows ``(scale, angle, ratio, dx, dy)`` in
      Norse 1.1.0's order and number: every scale × angle × ratio (the non-round ratios first
      unless ``include_replicas``), each repeated for every derivative; an integer
      ``derivatives = n`` means every ``(i, j)`` with ``0 <= i, j <= n``.
    * With ``x`` and/or ``y`` (positions; the other defaults to ``[0]``): rows
      ``(scale, angle, ratio, x, y, dx, dy)`` without replicas: round fields (ratio 1) use only
      the first angle unless ``include_replicas``, and ``derivatives = n`` expands to
      :func:`derivative_combinations` ``(n)`` (``(n, n)`` left out).

    A sequence of ``(dx, dy)`` pairs is used as given. Gradients flow to tensor arguments.

    Returns:
        ``(rows, 5)`` or ``(rows, 7)``, ordered by scale, angle, ratio (x, y), then derivative.

    Examples:
        >>> spatial_parameters([1.0, 2.0], [0.0, 1.0], [0.5, 1.0], 1).shape
        torch.Size([32, 5])
        >>> spatial_parameters([1.0, 2.0], [0.0, 1.0], [0.5, 1.0], 1, x=[0.0]).shape
        torch.Size([18, 7])
    """
    if x is None and y is None:
        reference = _float_reference(scales, angles, ratios)
        columns = [_vector(v, reference) for v in (scales, angles, ratios)]
        reference = reference if reference is not None else columns[0]
        columns = [c.to(reference.dtype) if not torch.is_floating_point(c) else c for c in columns]
        indices, orders = _norse_indices(
            columns[2],
            len(columns[0]),
            len(columns[1]),
            _norse_derivatives(derivatives),
            include_replicas,
        )
        rows = _gather_rows([*columns, columns[0][:1] * 0, columns[0][:1] * 0], indices, orders)
        return torch.cat([rows[:, :3], rows[:, 5:]], dim=1)
    x = (0.0,) if x is None else x
    y = (0.0,) if y is None else y
    reference = _float_reference(scales, angles, ratios, x, y)
    columns = [_vector(v, reference) for v in (scales, angles, ratios, x, y)]
    reference = reference if reference is not None else columns[0]
    columns = [c.to(reference.dtype) if not torch.is_floating_point(c) else c for c in columns]
    indices, orders = _parameter_indices(
        columns[2],
        len(columns[0]),
        len(columns[1]),
        len(columns[3]),
        len(columns[4]),
        _normalise_derivatives(derivatives),
        include_replicas,
    )
    return _gather_rows(columns, indices, orders)


def spatio_temporal_parameters(
    scales: Any,
    angles: Any,
    ratios: Any,
    derivatives: int | Sequence[tuple[int, int]] | torch.Tensor,
    temporal_scales: torch.Tensor,
    include_replicas: bool = False,
) -> torch.Tensor:
    """Every row of :func:`spatial_parameters` (Norse 1.1.0's 5 columns) paired with every
    temporal scale: ``(rows · len(temporal_scales), 6)``. ``include_replicas`` reaches
    :func:`spatial_parameters` (Norse passed it on positionally into the wrong argument).

    Examples:
        >>> import torch
        >>> spatio_temporal_parameters([1.0], [0.0], [0.5], 0, torch.tensor([1.0, 2.0])).tolist()
        [[1.0, 0.0, 0.5, 0.0, 0.0, 1.0], [1.0, 0.0, 0.5, 0.0, 0.0, 2.0]]
    """
    spatial = spatial_parameters(scales, angles, ratios, derivatives, include_replicas)
    temporal = torch.as_tensor(temporal_scales, dtype=spatial.dtype, device=spatial.device)
    temporal = temporal.reshape(-1)
    n, k = spatial.shape[0], temporal.shape[0]
    return torch.cat([spatial.repeat_interleave(k, 0), temporal.repeat(n)[:, None]], dim=1)


def temporal_scale_distribution(
    n_scales: int,
    min_scale: float = 1.0,
    max_scale: float | None = None,
    c: float = 1.41421,
) -> torch.Tensor:
    r"""Temporal scales: square roots of geometrically spaced variances :math:`\tau_k`.

    ``min_scale`` and ``max_scale`` bound the *variances*:
    :math:`\tau_k = \tau_{max} c^{2(k-K)}`, ``k = 1..K``, with
    :math:`\tau_{max} = c^{2(K-1)} \tau_{min}` when ``max_scale`` is None (so
    :math:`\tau_1 = \tau_{min}`). With ``max_scale`` set the variances run geometrically from
    ``min_scale`` to ``max_scale`` and ``c`` is not used. The result :math:`\sqrt{\tau_k}` is
    strictly increasing and lies in :math:`[\sqrt{\tau_{min}}, \sqrt{\tau_{max}}]`.

    Examples:
        >>> temporal_scale_distribution(4)
        tensor([1.0000, 1.4142, 2.0000, 2.8284])
        >>> temporal_scale_distribution(4, min_scale=1, max_scale=64)
        tensor([1., 2., 4., 8.])
    """
    if n_scales < 1:
        raise ValueError(f"n_scales must be >= 1, got {n_scales}")
    if min_scale <= 0:
        raise ValueError(f"min_scale must be > 0, got {min_scale}")
    k = torch.arange(1, n_scales + 1, dtype=torch.get_default_dtype())
    if max_scale is None:
        taus = min_scale * torch.as_tensor(float(c)) ** (2 * (k - 1))
    else:
        if max_scale < min_scale:
            raise ValueError(f"max_scale ({max_scale}) must be >= min_scale ({min_scale})")
        if n_scales == 1:
            taus = torch.full((1,), float(min_scale))
        else:
            fraction = (k - 1) / (n_scales - 1)
            taus = min_scale * (max_scale / min_scale) ** fraction
    return torch.sqrt(taus)


_COLUMNS = ("scales", "angles", "ratios", "x", "y")
_LOG_COLUMNS = ("scales", "ratios")


class _SpatialReceptiveFieldConv2d(torch.nn.Module):
    """Shared machinery: column tensors (optionally trainable, log-stored), the lazy weight
    cache and the convolution."""

    def __init__(
        self,
        in_channels: int,
        size: int,
        columns: Sequence[torch.Tensor],
        optimize: Sequence[bool],
        indices: list[tuple[int, int, int, int, int]],
        orders: list[tuple[int, int]],
        optimize_log: bool,
        aggregate: bool,
        domain: float,
        conv_kwargs: dict[str, Any],
    ):
        super().__init__()
        if "groups" in conv_kwargs:
            raise ValueError("groups is set by `aggregate`; it cannot be passed")
        if "bias" in conv_kwargs:
            raise ValueError("receptive field convolutions have no bias")
        if not indices:
            raise ValueError("no receptive fields: the parameter product is empty")
        self.in_channels = int(in_channels)
        self.size = int(size)
        self.aggregate = aggregate
        self.domain = float(domain)
        self.optimize_log = optimize_log
        self.conv_kwargs = dict(conv_kwargs)
        self._log_columns: set[str] = set()
        for name, values, trainable in zip(_COLUMNS, columns, optimize, strict=True):
            values = values.detach().clone().reshape(-1)
            if not torch.is_floating_point(values):
                values = values.to(torch.get_default_dtype())
            if optimize_log and trainable and name in _LOG_COLUMNS:
                if bool((values <= 0).any()):
                    raise ValueError(f"{name} must be > 0 to be optimised in log space")
                values = torch.log(values)
                self._log_columns.add(name)
            storage_name = f"log_{name}" if name in self._log_columns else name
            if trainable:
                self.register_parameter(storage_name, torch.nn.Parameter(values))
            else:
                self.register_buffer(storage_name, values)
        self.register_buffer(
            "indices", torch.as_tensor(indices, dtype=torch.long).reshape(-1, 5), persistent=False
        )
        self.derivatives: list[tuple[int, int]] = list(orders)
        self._weights_key: Any = None
        self.register_buffer("weights", self._compute_weights().detach(), persistent=False)
        self._weights_key = self._current_key()

    @property
    def n_fields(self) -> int:
        """The number of fields (rows)."""
        return len(self.derivatives)

    @property
    def out_channels(self) -> int:
        """``n_fields`` when aggregating, else ``in_channels · n_fields``."""
        return self.n_fields if self.aggregate else self.in_channels * self.n_fields

    def column(self, name: str) -> torch.Tensor:
        """The column ``name`` (scales, angles, ratios, x, y) in natural units (graph kept)."""
        if name in self._log_columns:
            return torch.exp(getattr(self, f"log_{name}"))
        return getattr(self, name)

    @property
    def rf_parameters(self) -> torch.Tensor:
        """The ``(n, 7)`` rows ``(scale, angle, ratio, x, y, dx, dy)`` (graph kept)."""
        columns = [self.column(name) for name in _COLUMNS]
        index = self.indices.to(columns[0].device)
        gathered = [column[index[:, k]] for k, column in enumerate(columns)]
        order = torch.as_tensor(self.derivatives, dtype=columns[0].dtype, device=index.device)
        return torch.stack([*gathered, order[:, 0], order[:, 1]], dim=1)

    def _compute_weights(self) -> torch.Tensor:
        columns = [self.column(name) for name in _COLUMNS]
        index = self.indices.to(columns[0].device)
        gathered = [column[index[:, k]] for k, column in enumerate(columns)]
        fields = _fields(
            *gathered,
            [o[0] for o in self.derivatives],
            [o[1] for o in self.derivatives],
            self.size,
            self.domain,
        )
        n, s = fields.shape[0], self.size
        if self.aggregate:
            # every field sees all input channels and sums them: (n, in_channels, s, s)
            return fields[:, None].expand(n, self.in_channels, s, s)
        # one output channel per (input channel, field): grouped conv, channel c·n + k
        return fields[None].expand(self.in_channels, n, s, s).reshape(self.in_channels * n, 1, s, s)

    def _current_key(self) -> tuple[Any, ...]:
        # in-place optimiser steps, load_state_dict and manual edits bump _version;
        # .to() and parameter replacement change the identity or the storage
        return tuple(
            (id(t), t.data_ptr(), t._version, t.dtype, t.device)
            for t in (*self.parameters(recurse=False), *self.buffers(recurse=False))
            if t is not getattr(self, "weights", None)
        )

    def _forward_weights(self) -> torch.Tensor:
        needs_graph = torch.is_grad_enabled() and any(
            t.requires_grad for t in self.parameters(recurse=False)
        )
        key = self._current_key()
        if needs_graph or key != self._weights_key:
            # recomputed lazily: after a parameter change, and whenever a graph is needed
            # (a previous backward may have freed the last one)
            weights = self._compute_weights()
            with torch.no_grad():
                self.weights = weights.detach()
            self._weights_key = key
            return weights if needs_graph else self.weights
        return self.weights

    @keyword_aliases(x="input_tensor")
    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        if input_tensor.dim() not in (3, 4) or input_tensor.shape[-3] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (N, {self.in_channels}, H, W), "
                f"got {tuple(input_tensor.shape)}"
            )
        weights = self._forward_weights()
        groups = 1 if self.aggregate else self.in_channels
        return torch.nn.functional.conv2d(
            input_tensor, weights, None, groups=groups, **self.conv_kwargs
        )

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, size={self.size}, n_fields={self.n_fields}, "
            f"aggregate={self.aggregate}, domain={self.domain}"
        )


class SpatialReceptiveField2d(_SpatialReceptiveFieldConv2d):
    """Convolution with the spatial fields of ``rf_parameters`` (one field per row).

    Args:
        in_channels: input channels.
        size: field size (pixels per side).
        rf_parameters: ``(n, 7)`` rows ``(scale, angle, ratio, x, y, dx, dy)``, or Norse
            1.1.0's ``(n, 5)`` rows ``(scale, angle, ratio, dx, dy)`` (centre fixed at 0), e.g.
            from :func:`spatial_parameters`.
        aggregate: when True, each field sees all input channels and sums them, giving ``n``
            output channels (weights ``(n, in_channels, size, size)``). When False, each field
            is applied to each input channel separately, giving ``in_channels · n`` output
            channels; output channel ``c · n + k`` is field ``k`` on input channel ``c``
            (a grouped convolution with weights ``(in_channels · n, 1, size, size)``).
        domain: half-width of the sampling grid (:data:`DEFAULT_DOMAIN`).
        optimize_fields: make every field's scale, angle, ratio, x and y trainable (x and y
            stay fixed for 5-column rows).
        optimize_log: store the trainable scales and ratios as logarithms (they stay > 0).
        **kwargs: passed to :func:`torch.nn.functional.conv2d` (stride, padding, dilation).

    The weights (buffer ``weights``, not saved in the state dict) are recomputed lazily: when a
    field parameter changed (an optimiser step, ``load_state_dict``, a manual edit) and on every
    forward that builds a gradient graph.

    Examples:
        >>> import torch
        >>> rows = spatial_parameters([2.0], [0.0], [1.0], derivatives=[(0, 0), (1, 0)])
        >>> layer = SpatialReceptiveField2d(2, 9, rows, aggregate=False)
        >>> layer(torch.ones(1, 2, 9, 9)).shape
        torch.Size([1, 4, 1, 1])
    """

    def __init__(
        self,
        in_channels: int,
        size: int,
        rf_parameters: torch.Tensor,
        aggregate: bool = True,
        domain: float = DEFAULT_DOMAIN,
        optimize_fields: bool = True,
        optimize_log: bool = True,
        **kwargs: Any,
    ):
        rf_parameters = torch.as_tensor(rf_parameters)
        positions = not (rf_parameters.dim() == 2 and rf_parameters.shape[1] == 5)
        rows = _seven_columns(rf_parameters.detach(), "rf_parameters")
        n = rows.shape[0]
        orders = [(int(a), int(b)) for a, b in rows[:, 5:7].round().long().tolist()]
        super().__init__(
            in_channels,
            size,
            columns=list(rows[:, :5].unbind(1)),
            optimize=[optimize_fields] * 3 + [optimize_fields and positions] * 2,
            indices=[(i, i, i, i, i) for i in range(n)],
            orders=orders,
            optimize_log=optimize_log,
            aggregate=aggregate,
            domain=domain,
            conv_kwargs=kwargs,
        )


class _GeneratedReceptiveField2d(_SpatialReceptiveFieldConv2d):
    """Fields from the product of generators; ``_per_field`` gives every field its own copy."""

    _per_field: bool

    def __init__(
        self,
        in_channels: int,
        size: int,
        scales: Any,
        angles: Any,
        ratios: Any,
        derivatives: Any,
        optimize_scales: bool = True,
        optimize_angles: bool = True,
        optimize_ratios: bool = True,
        x: Any = None,
        y: Any = None,
        optimize_x: bool = True,
        optimize_y: bool = True,
        optimize_log: bool = True,
        aggregate: bool = True,
        domain: float = DEFAULT_DOMAIN,
        include_replicas: bool = False,
        **kwargs: Any,
    ):
        norse_rows = x is None and y is None  # Norse 1.1.0's product, centred fields
        x = (0.0,) if x is None else x
        y = (0.0,) if y is None else y
        generators = [_vector(torch.as_tensor(v)).detach() for v in (scales, angles, ratios, x, y)]
        generators = [g.to(torch.get_default_dtype()) for g in generators]
        if norse_rows:
            optimize_x = optimize_y = False
            indices, orders = _norse_indices(
                generators[2],
                len(generators[0]),
                len(generators[1]),
                _norse_derivatives(derivatives),
                include_replicas,
            )
        else:
            indices, orders = _parameter_indices(
                generators[2],
                len(generators[0]),
                len(generators[1]),
                len(generators[3]),
                len(generators[4]),
                _normalise_derivatives(derivatives),
                include_replicas,
            )
        if self._per_field:
            rows = _gather_rows(generators, indices, orders)
            generators = list(rows[:, :5].unbind(1))
            indices = [(i, i, i, i, i) for i in range(len(orders))]
        super().__init__(
            in_channels,
            size,
            columns=generators,
            optimize=[optimize_scales, optimize_angles, optimize_ratios, optimize_x, optimize_y],
            indices=indices,
            orders=orders,
            optimize_log=optimize_log,
            aggregate=aggregate,
            domain=domain,
            conv_kwargs=kwargs,
        )


class SampledSpatialReceptiveField2d(_GeneratedReceptiveField2d):
    """Fields from the product of trainable *generators* (see :func:`spatial_parameters`).

    The scales, angles, ratios, x and y lists are the parameters: a field is a combination of
    them, so a step on ``scales[0]`` moves every field built from it. The combinations are
    fixed at construction (a ratio that leaves 1 during training keeps its rows).

    Args:
        in_channels, size: as in :class:`SpatialReceptiveField2d`.
        scales, angles, ratios, derivatives: generators, as in :func:`spatial_parameters`.
        optimize_scales, optimize_angles, optimize_ratios: which generators are trainable.
        x, y: position generators; without both, the fields are Norse 1.1.0's product
            (centred, see :func:`spatial_parameters`) and have no trainable position.
        optimize_x, optimize_y: whether the positions are trainable.
        optimize_log: store trainable scales and ratios as logarithms.
        aggregate, domain, **kwargs: as in :class:`SpatialReceptiveField2d`.
        include_replicas: as in :func:`spatial_parameters`.

    Examples:
        >>> import torch
        >>> layer = SampledSpatialReceptiveField2d(1, 9, [1.0, 2.0], [0.0, 1.0], [0.5], 0)
        >>> layer(torch.ones(1, 1, 9, 9)).shape, layer.log_scales.shape
        (torch.Size([1, 4, 1, 1]), torch.Size([2]))
        >>> SampledSpatialReceptiveField2d(1, 9, [1.0], [0.0], [1.0], 1, x=[0.0, 2.0]).n_fields
        6
    """

    _per_field = False


class ParameterizedSpatialReceptiveField2d(_GeneratedReceptiveField2d):
    """Fields initialised from the product of the generators, then trained one by one.

    Same arguments as :class:`SampledSpatialReceptiveField2d`, but every field owns its scale,
    angle, ratio, x and y (each a tensor of length ``n_fields``), so fields drift apart.

    Examples:
        >>> import torch
        >>> layer = ParameterizedSpatialReceptiveField2d(1, 9, [1.0, 2.0], [0.0, 1.0], [0.5], 0)
        >>> layer.log_scales.shape, layer.rf_parameters.shape
        (torch.Size([4]), torch.Size([4, 7]))
    """

    _per_field = True


def _default_activation_state_map(tau_mem_inv: torch.Tensor) -> Any:
    from .li_box import LIBoxParameters

    return LIBoxParameters(tau_mem_inv=tau_mem_inv)


class TemporalReceptiveField(torch.nn.Module):
    r"""Leaky integrators at several temporal scales, one per scale and channel (one step).

    Scale ``k`` (:func:`temporal_scale_distribution`, in steps) integrates with
    ``tau_mem_inv = (1/dt) / scale_k``. The inverse time constants are the trainable
    :class:`torch.nn.Parameter` ``ps`` of shape ``(n_scales, C, 1, ..., 1)`` (``C = shape[0]``,
    one ``1`` per remaining dimension of ``shape``).

    ``forward(x, state=None)`` takes ``x`` of shape ``(..., *shape)``, stacks ``n_scales``
    copies of it at dim ``-len(shape) - 1`` and runs one step of the activation cell, returning
    ``(out (..., n_scales, *shape), state)``. It is stateful, so :class:`Lift` loops it in time.

    Args:
        shape: the input shape without batch, channels first, e.g. ``(C, H, W)``.
        n_scales: number of temporal scales.
        activation: the cell class, called as ``activation(p=..., dt=dt)``; ``LIBoxCell``
            (:mod:`simctl.neurons.li_box`) when None.
        activation_state_map: maps ``ps`` to the cell's parameters; by default
            ``t -> LIBoxParameters(tau_mem_inv=t)``.
        min_scale, max_scale, c: see :func:`temporal_scale_distribution`.
        time_constants: explicit time constants ``(n_scales,)``, in the unit of ``dt``
            (``tau_mem_inv = 1/time_constants``); replace the scale distribution and set
            ``n_scales``.
        dt: the integration step.

    Examples:
        >>> import torch
        >>> field = TemporalReceptiveField((2, 5, 5), n_scales=4)
        >>> out, state = field(torch.ones(3, 2, 5, 5))
        >>> out.shape, field.ps.shape
        (torch.Size([3, 4, 2, 5, 5]), torch.Size([4, 2, 1, 1]))
    """

    def __init__(
        self,
        shape: Sequence[int],
        n_scales: int = 4,
        activation: Callable[..., torch.nn.Module] | None = None,
        activation_state_map: Callable[[torch.Tensor], Any] | None = None,
        min_scale: float = 1.0,
        max_scale: float | None = None,
        c: float = 1.41421,
        time_constants: torch.Tensor | Sequence[float] | None = None,
        dt: float = 0.001,
    ):
        super().__init__()
        shape = tuple(int(s) for s in shape)
        if not shape:
            raise ValueError("shape needs at least the channel dimension")
        if activation is None:
            from .li_box import LIBoxCell

            activation = LIBoxCell
        self.shape = shape
        self.activation = activation
        self.activation_state_map = (
            _default_activation_state_map if activation_state_map is None else activation_state_map
        )
        self.dt = dt
        if time_constants is None:
            scales = temporal_scale_distribution(n_scales, min_scale, max_scale, c)
            tau_mem_inv = (1.0 / dt) / scales
        else:
            constants = _vector(torch.as_tensor(time_constants)).to(torch.get_default_dtype())
            if bool((constants <= 0).any()):
                raise ValueError("time_constants must be > 0")
            tau_mem_inv = 1.0 / constants
        self.n_scales = int(tau_mem_inv.numel())
        ps = tau_mem_inv.view(self.n_scales, 1).expand(self.n_scales, shape[0])
        ps = ps.reshape(self.n_scales, shape[0], *([1] * (len(shape) - 1))).clone()
        self.ps = torch.nn.Parameter(ps)

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        if x.dim() < len(self.shape) or tuple(x.shape[x.dim() - len(self.shape) :]) != self.shape:
            raise ValueError(
                f"TemporalReceptiveField expects input of shape (..., {self.shape}), "
                f"got {tuple(x.shape)}"
            )
        stacked = torch.stack([x] * self.n_scales, dim=-len(self.shape) - 1)
        cell = self.activation(p=self.activation_state_map(self.ps), dt=self.dt)
        return cell(stacked, state)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, n_scales={self.n_scales}, dt={self.dt}"
