r"""Spike-timing-dependent plasticity of a weight matrix or a convolution kernel (Norse's
``norse.torch.functional.stdp``: ``STDPParameters``, ``STDPState``, ``stdp_step_linear``,
``stdp_step_conv2d``).

Trace-based, all-to-all pair STDP (Morrison, Diesmann & Gerstner, "Phenomenological models of
synaptic plasticity based on spike timing", Biol. Cybern. 98, 459, 2008). One forward-Euler step
of the traces, then the weight change:

.. math::
    x_{pre} \leftarrow x_{pre} + dt\,\tau_{pre}^{-1}(-x_{pre} + a_{pre} z_{pre}), \qquad
    x_{post} \leftarrow x_{post} + dt\,\tau_{post}^{-1}(-x_{post} + a_{post} z_{post})

.. math::
    \Delta w_{ij} = A_+(w_{ij}) \sum_b z^{post}_{bi} x^{pre}_{bj}
                  - A_-(w_{ij}) \sum_b x^{post}_{bi} z^{pre}_{bj}

(the sum runs over the batch), then ``w`` is clipped to ``[w_min, w_max]`` when ``hardbound``.
A postsynaptic spike potentiates by the presynaptic trace, a presynaptic spike depresses by
the postsynaptic trace, both with the traces of *this* step. The weight dependence
``A_±(w)`` is ``stdp_algorithm``:

==========================  =================================================================
``"additive"``              ``A_+ = eta_plus``, ``A_- = eta_minus`` (Song, Miller & Abbott,
                            Nat. Neurosci. 3, 919, 2000)
``"additive_step"``         additive while ``w < w_max`` (potentiation) / ``w > w_min``
                            (depression), zero beyond
``"multiplicative_pow"``    ``A_+ = eta_plus·(w_max − w)^mu``, ``A_- = eta_minus·(w − w_min)^mu``
                            (Gütig et al., J. Neurosci. 23, 3697, 2003)
``"multiplicative_relu"``   ``mu = 1`` with ``relu``: ``eta_plus·max(w_max − w, 0)``, ...
==========================  =================================================================

For a convolution the presynaptic spikes and trace are unfolded into the kernel's receptive
fields (``stride``, ``padding``, ``dilation`` of the parameters), so each kernel entry collects
the products over every output position. Units: ``tau_*_inv`` in 1/s with ``dt = 0.001`` s.

Unlike Norse's, the steps do not modify the ``STDPState`` they are given (they return a new
one); ``STDPState.decay`` keeps Norse's in-place behaviour.

Examples:
    >>> import torch
    >>> p = STDPParameters(eta_plus=0.1, eta_minus=0.1)
    >>> w = torch.full((1, 1), 0.5)
    >>> s = STDPState(t_pre=torch.zeros(1, 1), t_post=torch.zeros(1, 1))
    >>> w, s = stdp_step_linear(torch.ones(1, 1), torch.zeros(1, 1), w, s, p)  # pre spike
    >>> round(s.t_pre.item(), 6)  # 0.001·20·1
    0.02
    >>> w, s = stdp_step_linear(torch.zeros(1, 1), torch.ones(1, 1), w, s, p)  # then post
    >>> round(w.item() - 0.5, 6)  # 0.1 · 0.02·(1 − 0.02)
    0.00196
"""

from __future__ import annotations

from typing import Any

import torch

from .threshold import heaviside

__all__ = ["STDPParameters", "STDPState", "stdp_step_linear", "stdp_step_conv2d"]

ALGORITHMS = ("additive", "additive_step", "multiplicative_pow", "multiplicative_relu")


class STDPState:
    """State of STDP: the presynaptic trace ``t_pre`` and the postsynaptic trace ``t_post``
    (shaped like the spikes they follow)."""

    def __init__(self, t_pre: torch.Tensor, t_post: torch.Tensor):
        self.t_pre = t_pre
        self.t_post = t_post

    def __repr__(self) -> str:
        return f"STDPState(t_pre={self.t_pre!r}, t_post={self.t_post!r})"

    def decay(
        self,
        z_pre: torch.Tensor,
        z_post: torch.Tensor,
        tau_pre_inv: Any,
        tau_post_inv: Any,
        a_pre: Any,
        a_post: Any,
        dt: float = 0.001,
    ) -> None:
        """One Euler step of both traces, **in place** (Norse's method)."""
        self.t_pre = self.t_pre + dt * tau_pre_inv * (-self.t_pre + a_pre * z_pre)
        self.t_post = self.t_post + dt * tau_post_inv * (-self.t_post + a_post * z_post)


class STDPParameters:
    """Parameters of STDP (Norse's names and defaults).

    Args:
        a_pre, a_post: the contribution of a pre-/postsynaptic spike to its trace.
        tau_pre_inv, tau_post_inv: inverse trace time constants (1/s; default 1/50 ms).
        w_min, w_max: the weight bounds (``w_min < w_max``).
        eta_plus, eta_minus: learning rates of potentiation and depression.
        stdp_algorithm: one of ``"additive"``, ``"additive_step"``, ``"multiplicative_pow"``,
            ``"multiplicative_relu"`` (see the module docstring).
        mu: the exponent of ``"multiplicative_pow"`` (``0 <= mu <= 1``); the additive rules use
            0 and ``"multiplicative_relu"`` uses 1 whatever is given, as in Norse.
        hardbound: clip the weights to ``[w_min, w_max]`` after each step.
        convolutional: the weights are a ``Conv2d`` kernel (informative; the step decides).
        stride, padding, dilation: of the convolution, for :func:`stdp_step_conv2d`.

    Raises:
        ValueError: for an unknown ``stdp_algorithm``.
    """

    def __init__(
        self,
        a_pre: Any = 1.0,
        a_post: Any = 1.0,
        tau_pre_inv: Any = 1.0 / 50e-3,
        tau_post_inv: Any = 1.0 / 50e-3,
        w_min: Any = 0.0,
        w_max: Any = 1.0,
        eta_plus: Any = 1e-3,
        eta_minus: Any = 1e-3,
        stdp_algorithm: str = "additive",
        mu: Any = 0.0,
        hardbound: bool = True,
        convolutional: bool = False,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
    ):
        if stdp_algorithm not in ALGORITHMS:
            raise ValueError(
                f"stdp_algorithm={stdp_algorithm!r} is not known; choose one of "
                + ", ".join(ALGORITHMS)
            )
        self.a_pre = a_pre
        self.a_post = a_post
        self.tau_pre_inv = tau_pre_inv
        self.tau_post_inv = tau_post_inv
        self.w_min = w_min
        self.w_max = w_max
        self.eta_plus = eta_plus
        self.eta_minus = eta_minus
        self.stdp_algorithm = stdp_algorithm
        if stdp_algorithm == "multiplicative_pow":
            self.mu = torch.as_tensor(mu)
        elif stdp_algorithm == "multiplicative_relu":
            self.mu = torch.tensor(1.0)
        else:
            self.mu = torch.tensor(0.0)
        self.hardbound = hardbound
        self.convolutional = convolutional
        self.stride = stride
        self.padding = padding
        self.dilation = dilation

    def A_plus(self, w: torch.Tensor) -> Any:  # noqa: N802 - Norse's name
        """The potentiation factor ``A_+(w)``."""
        if self.stdp_algorithm == "additive":
            return self.eta_plus
        if self.stdp_algorithm == "additive_step":
            return self.eta_plus * heaviside(self.w_max - w)
        if self.stdp_algorithm == "multiplicative_pow":
            return self.eta_plus * torch.pow(self.w_max - w, self.mu)
        return self.eta_plus * torch.relu(self.w_max - w)

    def A_minus(self, w: torch.Tensor) -> Any:  # noqa: N802 - Norse's name
        """The depression factor ``A_-(w)``."""
        if self.stdp_algorithm == "additive":
            return self.eta_minus
        if self.stdp_algorithm == "additive_step":
            return self.eta_minus * heaviside(w - self.w_min)
        if self.stdp_algorithm == "multiplicative_pow":
            return self.eta_minus * torch.pow(w - self.w_min, self.mu)
        return self.eta_minus * torch.relu(w - self.w_min)

    def bounding_func(self, w: torch.Tensor) -> torch.Tensor:
        """``w`` clipped to ``[w_min, w_max]`` when ``hardbound``, else ``w``."""
        return torch.clamp(w, self.w_min, self.w_max) if self.hardbound else w


def _traces(
    z_pre: torch.Tensor, z_post: torch.Tensor, state: STDPState, p: STDPParameters, dt: float
) -> STDPState:
    new = STDPState(state.t_pre, state.t_post)
    new.decay(z_pre, z_post, p.tau_pre_inv, p.tau_post_inv, p.a_pre, p.a_post, dt)
    return new


def stdp_step_linear(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    w: torch.Tensor,
    state_stdp: STDPState,
    p_stdp: STDPParameters = STDPParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, STDPState]:
    """One STDP step of a linear layer's weights ``w`` (``(n_post, n_pre)``).

    Args:
        z_pre: presynaptic spikes ``(batch, n_pre)``; z_post: postsynaptic ``(batch, n_post)``.
        w: the weights; state_stdp: the traces (shaped like the spikes).
        p_stdp: the parameters; dt: the step.

    Returns:
        ``(w_new, state_new)``.
    """
    state = _traces(z_pre, z_post, state_stdp, p_stdp, dt)
    potentiation = torch.einsum("bi,bj->ij", z_post, state.t_pre)
    depression = torch.einsum("bi,bj->ij", state.t_post, z_pre)
    w_new = w + p_stdp.A_plus(w) * potentiation - p_stdp.A_minus(w) * depression
    return p_stdp.bounding_func(w_new), state


def stdp_step_conv2d(
    z_pre: torch.Tensor,
    z_post: torch.Tensor,
    w: torch.Tensor,
    state_stdp: STDPState,
    p_stdp: STDPParameters = STDPParameters(),
    dt: float = 0.001,
) -> tuple[torch.Tensor, STDPState]:
    """One STDP step of a ``Conv2d`` kernel ``w`` (``(c_out, c_in, kh, kw)``).

    Args:
        z_pre: presynaptic spikes ``(batch, c_in, h, w)``; z_post: postsynaptic spikes, the
            convolution's output shape ``(batch, c_out, h', w')``.
        w: the kernel; state_stdp: the traces (shaped like the spikes).
        p_stdp: the parameters (``stride``, ``padding``, ``dilation`` of the convolution).
        dt: the step.

    Returns:
        ``(w_new, state_new)``.
    """
    state = _traces(z_pre, z_post, state_stdp, p_stdp, dt)
    batch = z_pre.shape[0]
    c_out, _, kh, kw = w.shape

    def patches(x: torch.Tensor) -> torch.Tensor:  # (batch, c_in·kh·kw, positions)
        return torch.nn.functional.unfold(
            x, (kh, kw), dilation=p_stdp.dilation, padding=p_stdp.padding, stride=p_stdp.stride
        )

    post_spikes = z_post.reshape(batch, c_out, -1)
    post_trace = state.t_post.reshape(batch, c_out, -1)
    potentiation = torch.einsum("bik,bjk->ij", post_spikes, patches(state.t_pre)).view(w.shape)
    depression = torch.einsum("bik,bjk->ij", post_trace, patches(z_pre)).view(w.shape)
    w_new = w + p_stdp.A_plus(w) * potentiation - p_stdp.A_minus(w) * depression
    return p_stdp.bounding_func(w_new), state
