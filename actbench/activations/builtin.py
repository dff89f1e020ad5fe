"""The built-in activations, one entry each: module factory, params, text, kernels, gain,
saturation rule and whole-layer behaviour side by side.

Adding an activation is one entry here (and its tests): the registry, the CLI, config
validation, the engine's autograd-free step, the probe, the init schemes and the figures read
it from its spec. Kernels are the ATen ops the module runs forward and autograd runs backward;
`torch._C._nn` is used where its out= overloads are the module's own op (its stubs lack some
of them, hence the ignores). torch is imported inside each function, never at import.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actbench.activations.spec import ActivationSpec, Kernels, Param, Params, WholeLayer

if TYPE_CHECKING:
    from torch import Tensor, nn


def _module(class_name: str, **fixed: Any) -> Callable[..., nn.Module]:
    """A factory of torch.nn.<class_name>(**fixed, **params)."""

    def factory(**params: Any) -> nn.Module:
        from torch import nn

        return getattr(nn, class_name)(**fixed, **params)

    return factory


# torch.nn.init.calculate_gain("relu"). ReLU-like units (linear for x > 0, near 0 for x << 0)
# pass about half of the signal's second moment, like ReLU, and get its gain; bounded or
# normalising ones that torch has no gain for get 1.
RELU_GAIN = math.sqrt(2.0)


def _leaky_gain(slope: float) -> float:
    """torch.nn.init.calculate_gain("leaky_relu", slope)."""
    return math.sqrt(2.0 / (1 + slope**2))


# --- identity ------------------------------------------------------------------------------------


def _identity_kernels(params: Params) -> Kernels:
    return Kernels(lambda z, out: out.copy_(z), lambda g, z, h, out: out.copy_(g))


IDENTITY = ActivationSpec(
    name="identity",
    factory=_module("Identity"),
    formula="f(x) = x",
    output_range="(-inf, inf)",
    derivative="1 everywhere",
    typical_use="baseline: without a non-linearity the whole net is one linear map",
    aliases=("linear", "none"),
    kernels=_identity_kernels,
    gain=1.0,  # calculate_gain("linear")
    saturation="never",  # f' = 1 everywhere
)


# --- step ----------------------------------------------------------------------------------------


def _step(ste: bool) -> nn.Module:
    from actbench.activations.modules import BinaryStep

    return BinaryStep(ste)


def _step_kernels(params: Params) -> Kernels:
    import torch

    # its own autograd Function: zeros, or the gradient straight through
    return Kernels(
        lambda z, out: torch.gt(z, 0, out=out),
        (lambda g, z, h, out: out.copy_(g))
        if params["ste"]
        else (lambda g, z, h, out: out.zero_()),
    )


STEP = ActivationSpec(
    name="step",
    factory=_step,
    formula="f(x) = 1 if x > 0 else 0",
    output_range="{0, 1}",
    derivative="0 everywhere (undefined at 0): no gradient reaches earlier layers, "
    "so they never learn; ste=true passes the gradient straight through",
    typical_use="the perceptron's threshold; shows why gradients matter",
    params={"ste": Param(False, "straight-through estimator: backward acts as identity")},
    aliases=("binary_step", "heaviside"),
    kernels=_step_kernels,
    gain=1.0,
    # f' = 0 everywhere (saturated), or 1 with the straight-through estimator
    saturation=lambda p: "never" if p["ste"] else "always",
)


# --- sigmoid, tanh -------------------------------------------------------------------------------


def _sigmoid_kernels(params: Params) -> Kernels:
    import torch

    aten = torch.ops.aten
    return Kernels(
        lambda z, out: torch.sigmoid(z, out=out),
        lambda g, z, h, out: aten.sigmoid_backward.grad_input(g, h, grad_input=out),
    )


SIGMOID = ActivationSpec(
    name="sigmoid",
    factory=_module("Sigmoid"),
    formula="f(x) = 1 / (1 + e^-x)",
    output_range="(0, 1)",
    derivative="f(x)(1 - f(x)), at most 0.25; vanishes for large |x|",
    typical_use="binary-classification output (a probability); gates in LSTMs",
    aliases=("logistic",),
    kernels=_sigmoid_kernels,
    gain=1.0,  # calculate_gain("sigmoid")
    saturation="derivative",
)


def _tanh_kernels(params: Params) -> Kernels:
    import torch

    aten = torch.ops.aten
    return Kernels(
        lambda z, out: torch.tanh(z, out=out),
        lambda g, z, h, out: aten.tanh_backward.grad_input(g, h, grad_input=out),
    )


TANH = ActivationSpec(
    name="tanh",
    factory=_module("Tanh"),
    formula="f(x) = (e^x - e^-x) / (e^x + e^-x)",
    output_range="(-1, 1)",
    derivative="1 - f(x)^2, at most 1; vanishes for large |x|",
    typical_use="zero-centred hidden layers; recurrent nets",
    kernels=_tanh_kernels,
    gain=5.0 / 3,  # calculate_gain("tanh")
    saturation="derivative",
)


# --- relu, leaky_relu ----------------------------------------------------------------------------


def _relu_kernels(params: Params) -> Kernels:
    import torch

    aten = torch.ops.aten
    # ATen's relu is clamp_min(z, 0)
    return Kernels(
        lambda z, out: torch.clamp_min(z, 0, out=out),
        lambda g, z, h, out: aten.threshold_backward.grad_input(g, h, 0, grad_input=out),
    )


RELU = ActivationSpec(
    name="relu",
    factory=_module("ReLU"),
    formula="f(x) = max(0, x)",
    output_range="[0, inf)",
    derivative="1 for x > 0, 0 for x < 0: a unit negative on every input stops learning",
    typical_use="the default for hidden layers",
    kernels=_relu_kernels,
    gain=RELU_GAIN,
    saturation="derivative",
)


def _leaky_relu_kernels(params: Params) -> Kernels:
    import torch

    aten, functions = torch.ops.aten, torch._C._nn
    slope = float(params["negative_slope"])
    return Kernels(
        lambda z, out: functions.leaky_relu(z, slope, out=out),
        lambda g, z, h, out: aten.leaky_relu_backward.grad_input(
            g, z, slope, False, grad_input=out
        ),
    )


LEAKY_RELU = ActivationSpec(
    name="leaky_relu",
    factory=_module("LeakyReLU"),
    formula="f(x) = x if x > 0 else a*x  (a = negative_slope)",
    output_range="(-inf, inf)",
    derivative="1 for x > 0, a for x < 0: never zero, so units do not die",
    typical_use="hidden layers where ReLU units die",
    params={"negative_slope": Param(0.01, "slope a for x < 0")},
    aliases=("lrelu", "leakyrelu"),
    kernels=_leaky_relu_kernels,
    gain=lambda p: _leaky_gain(float(p["negative_slope"])),
    saturation="derivative",
)


# --- softmax -------------------------------------------------------------------------------------

SOFTMAX_DIM = -1  # over the units of the layer


def _softmax() -> nn.Module:
    from actbench.activations.modules import Softmax

    return Softmax()


def _softmax_kernels(params: Params) -> Kernels:
    import torch

    from actbench.activations.modules import softmax_backward

    return Kernels(
        lambda z, out: torch._softmax(z, SOFTMAX_DIM, False, out=out),
        lambda g, z, h, out: softmax_backward(g, h, out),
    )


def _softmax_diagonal(h: Tensor, out: Tensor | None) -> Tensor:
    """df_j/dz_j = f_j (1 - f_j), from h = softmax(z), without the n x n Jacobian."""
    import torch

    if out is None:
        return h * (1 - h)
    return torch.neg(h, out=out).add_(1).mul_(h)  # (-h + 1) * h: the same roundings


SOFTMAX = ActivationSpec(
    name="softmax",
    factory=_softmax,
    formula="f(x)_i = e^x_i / sum_j e^x_j  (over the units of the layer)",
    output_range="(0, 1), the layer's outputs sum to 1",
    derivative="df_i/dx_j = f_i (delta_ij - f_j): couples all units of the layer",
    typical_use="multi-class output probabilities; as a hidden activation it squeezes "
    "the whole layer into one unit of mass",
    kernels=_softmax_kernels,
    gain=1.0,
    saturation="derivative",
    whole_layer=WholeLayer(diagonal=_softmax_diagonal, max_abs_derivative=0.25),
)


# --- elu, selu -----------------------------------------------------------------------------------


def _elu_kernels(alpha: float, scale: float) -> Kernels:
    import torch

    aten, functions = torch.ops.aten, torch._C._nn
    return Kernels(
        lambda z, out: functions.elu(z, alpha, scale, 1, out=out),  # type: ignore[call-arg]
        lambda g, z, h, out: aten.elu_backward.grad_input(
            g, alpha, scale, 1, False, z, grad_input=out
        ),
    )


ELU = ActivationSpec(
    name="elu",
    factory=_module("ELU"),
    formula="f(x) = x if x > 0 else alpha*(e^x - 1)",
    output_range="(-alpha, inf)",
    derivative="1 for x > 0, f(x) + alpha for x <= 0",
    typical_use="smooth ReLU alternative with negative outputs (Clevert et al. 2015)",
    params={"alpha": Param(1.0, "saturation value -alpha for x -> -inf", minimum=0.0)},
    kernels=lambda p: _elu_kernels(float(p["alpha"]), 1),
    gain=RELU_GAIN,
    saturation="derivative",
)

# SELU's constants as ATen's selu passes them to elu (Klambauer et al. 2017).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

SELU = ActivationSpec(
    name="selu",
    factory=_module("SELU"),
    formula="f(x) = l*(x if x > 0 else a*(e^x - 1)),  l~1.0507, a~1.6733",
    output_range="(-1.7581, inf)",
    derivative="l for x > 0, l*a*e^x for x <= 0",
    typical_use="self-normalising deep MLPs (Klambauer et al. 2017)",
    kernels=lambda p: _elu_kernels(SELU_ALPHA, SELU_SCALE),  # ATen's selu is this elu
    gain=3.0 / 4,  # calculate_gain("selu"), as PyTorch recommends
    saturation="derivative",
)


# --- smooth ReLUs: gelu, silu, mish, softplus ----------------------------------------------------


def _gelu_kernels(params: Params) -> Kernels:
    import torch

    aten, functions = torch.ops.aten, torch._C._nn
    approximate = str(params["approximate"])
    return Kernels(
        lambda z, out: functions.gelu(z, approximate=approximate, out=out),  # type: ignore[call-arg]
        lambda g, z, h, out: aten.gelu_backward.grad_input(
            g, z, approximate=approximate, grad_input=out
        ),
    )


GELU = ActivationSpec(
    name="gelu",
    factory=_module("GELU"),
    formula="f(x) = x * Phi(x)  (Phi: standard normal CDF)",
    output_range="(-0.17, inf)",
    derivative="Phi(x) + x*phi(x); slightly non-monotonic below 0",
    typical_use="transformers (BERT, GPT)",
    params={
        "approximate": Param("none", "'tanh' uses the tanh approximation", choices=("none", "tanh"))
    },
    kernels=_gelu_kernels,
    gain=RELU_GAIN,
    saturation="derivative",
)


def _silu_kernels(params: Params) -> Kernels:
    import torch

    aten, functions = torch.ops.aten, torch._C._nn
    return Kernels(
        lambda z, out: functions.silu(z, out=out),  # type: ignore[call-arg]
        lambda g, z, h, out: aten.silu_backward.grad_input(g, z, grad_input=out),
    )


SILU = ActivationSpec(
    name="silu",
    factory=_module("SiLU"),
    formula="f(x) = x * sigmoid(x)",
    output_range="(-0.28, inf)",
    derivative="sigmoid(x) * (1 + x*(1 - sigmoid(x)))",
    typical_use="EfficientNet and other modern nets; a smooth ReLU",
    aliases=("swish",),
    kernels=_silu_kernels,
    gain=RELU_GAIN,
    saturation="derivative",
)


def _mish_kernels(params: Params) -> Kernels:
    import torch

    aten, functions = torch.ops.aten, torch._C._nn
    return Kernels(
        lambda z, out: functions.mish(z, out=out),  # type: ignore[call-arg]
        lambda g, z, h, out: out.copy_(aten.mish_backward(g, z)),
    )


MISH = ActivationSpec(
    name="mish",
    factory=_module("Mish"),
    formula="f(x) = x * tanh(softplus(x))",
    output_range="(-0.31, inf)",
    derivative="smooth, slightly non-monotonic below 0",
    typical_use="YOLOv4 and other detectors; a smooth ReLU",
    kernels=_mish_kernels,
    gain=RELU_GAIN,
    saturation="derivative",
)


def _softplus_kernels(params: Params) -> Kernels:
    import torch

    aten, functions = torch.ops.aten, torch._C._nn
    beta, threshold = float(params["beta"]), float(params["threshold"])
    return Kernels(
        lambda z, out: functions.softplus(z, beta, threshold, out=out),  # type: ignore[call-arg]
        lambda g, z, h, out: aten.softplus_backward.grad_input(
            g, z, beta, threshold, grad_input=out
        ),
    )


SOFTPLUS = ActivationSpec(
    name="softplus",
    factory=_module("Softplus"),
    formula="f(x) = log(1 + e^(beta*x)) / beta",
    output_range="(0, inf)",
    derivative="sigmoid(beta*x), never exactly 0",
    typical_use="smooth ReLU; positive outputs such as variances",
    params={
        "beta": Param(1.0, "sharpness", minimum=0.0, exclusive_minimum=True),
        "threshold": Param(20.0, "above beta*x > threshold it is linear", minimum=0.0),
    },
    kernels=_softplus_kernels,
    gain=RELU_GAIN,
    saturation="derivative",
)


# --- clipped: relu6, hardtanh --------------------------------------------------------------------


def _hardtanh_kernels(low: float, high: float) -> Kernels:
    import torch

    aten, functions = torch.ops.aten, torch._C._nn
    return Kernels(
        lambda z, out: functions.hardtanh(z, low, high, out=out),
        lambda g, z, h, out: aten.hardtanh_backward.grad_input(g, z, low, high, grad_input=out),
    )


RELU6 = ActivationSpec(
    name="relu6",
    factory=_module("ReLU6"),
    formula="f(x) = min(max(0, x), 6)",
    output_range="[0, 6]",
    derivative="1 for 0 < x < 6, else 0",
    typical_use="mobile nets (MobileNet); quantisation-friendly",
    kernels=lambda p: _hardtanh_kernels(0.0, 6.0),  # nn.ReLU6 is Hardtanh(0.0, 6.0)
    gain=RELU_GAIN,
    saturation="derivative",
)

HARDTANH = ActivationSpec(
    name="hardtanh",
    factory=_module("Hardtanh"),
    formula="f(x) = min(max(x, min_val), max_val)",
    output_range="[min_val, max_val]",
    derivative="1 between min_val and max_val, else 0",
    typical_use="a cheap bounded tanh",
    params={"min_val": Param(-1.0, "lower clip"), "max_val": Param(1.0, "upper clip")},
    constraint=lambda p: (
        None
        if p["min_val"] < p["max_val"]  # type: ignore[operator]
        else f"min_val must be < max_val (got {p['min_val']} and {p['max_val']})"
    ),
    kernels=lambda p: _hardtanh_kernels(float(p["min_val"]), float(p["max_val"])),
    gain=1.0,
    saturation="derivative",
)


# --- prelu ---------------------------------------------------------------------------------------


def _prelu(init: float) -> nn.Module:
    from torch import nn

    return nn.PReLU(num_parameters=1, init=init)


PRELU = ActivationSpec(
    name="prelu",
    factory=_prelu,
    formula="f(x) = x if x > 0 else a*x  (a learned, one per layer)",
    output_range="(-inf, inf)",
    derivative="1 for x > 0, a for x < 0; a gets its own gradient",
    typical_use="ReLU with a learned leak (He et al. 2015)",
    params={"init": Param(0.25, "initial slope a")},
    kernels=None,  # the slope is learned: autograd trains it
    gain=lambda p: _leaky_gain(float(p["init"])),  # as leaky_relu with its initial slope
    saturation="derivative",
)


BUILTINS: tuple[ActivationSpec, ...] = (
    IDENTITY,
    STEP,
    SIGMOID,
    TANH,
    RELU,
    LEAKY_RELU,
    SOFTMAX,
    ELU,
    SELU,
    GELU,
    SILU,
    MISH,
    SOFTPLUS,
    RELU6,
    HARDTANH,
    PRELU,
)
