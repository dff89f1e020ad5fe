"""The activation registry: values, derivatives, metadata, parameter validation and errors."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from cases import ACTIVATION_VARIANTS

from actbench import activations
from actbench.activations import ActivationSpec, build, derivative, get, max_abs_derivative
from actbench.activations.builtin import BUILTINS
from actbench.errors import ActbenchError, ActivationError

REQUIRED = (
    "identity",
    "step",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "softmax",
    "elu",
    "selu",
    "gelu",
    "silu",
    "mish",
    "softplus",
    "relu6",
    "hardtanh",
    "prelu",
)
ALL_ALIASES = [
    (alias, spec.name) for spec in activations.REGISTRY.values() for alias in spec.aliases
]


def apply(name: str, values: list[float], params: Mapping[str, Any] | None = None) -> torch.Tensor:
    return build(name, params)(torch.tensor(values, dtype=torch.float32))


def grad_of(
    name: str, values: list[float], params: Mapping[str, Any] | None = None
) -> torch.Tensor:
    z = torch.tensor(values, dtype=torch.float32)
    return derivative(build(name, params), get(name), z)


def close(actual: torch.Tensor, expected: list[float], atol: float = 5e-5) -> None:
    torch.testing.assert_close(
        actual, torch.tensor(expected, dtype=actual.dtype), atol=atol, rtol=0
    )


# --- known values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "inputs", "expected"),
    [
        ("sigmoid", None, [1.0, 2.0, 3.0], [0.7311, 0.8808, 0.9526]),
        ("tanh", None, [1.0, 2.0, 3.0], [0.7616, 0.9640, 0.9951]),
        ("relu", None, [-1.0, 0.0, 1.0, 2.0], [0.0, 0.0, 1.0, 2.0]),
        ("leaky_relu", None, [-1.0, 0.0, 1.0, 2.0], [-0.01, 0.0, 1.0, 2.0]),
        ("leaky_relu", {"negative_slope": 0.2}, [1.0, -2.0, 3.0, -5.0], [1.0, -0.4, 3.0, -1.0]),
        ("softmax", None, [1.0, 2.0, 3.0], [0.0900, 0.2447, 0.6652]),
        ("step", None, [-1.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
        ("step", {"ste": True}, [-1.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
        ("relu6", None, [-1.0, 3.0, 7.0], [0.0, 3.0, 6.0]),
        ("hardtanh", None, [-2.0, 0.5, 2.0], [-1.0, 0.5, 1.0]),
        ("prelu", None, [-4.0, 0.0, 2.0], [-1.0, 0.0, 2.0]),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_activation_matches_known_values(
    name: str, params: dict[str, Any] | None, inputs: list[float], expected: list[float]
) -> None:
    close(apply(name, inputs, params), expected)


def test_identity_returns_input_unchanged() -> None:
    x = torch.tensor([-3.5, 0.0, 1e-8, 2.0, 1e6])
    assert torch.equal(build("identity")(x), x)


def test_softmax_rows_of_2d_input_each_sum_to_one() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-5.0, 0.0, 5.0, 10.0], [0.0, 0.0, 0.0, 0.0]])
    close(build("softmax")(x).sum(dim=-1), [1.0, 1.0, 1.0], atol=1e-6)


def test_softmax_is_applied_over_units_not_over_the_batch() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, -1.0]])
    expected = torch.stack([torch.softmax(row, dim=0) for row in x])
    torch.testing.assert_close(build("softmax")(x), expected)


ELEMENTWISE_REFERENCES: list[tuple[str, dict[str, Any], Callable[[torch.Tensor], torch.Tensor]]] = [
    ("elu", {}, F.elu),
    ("elu", {"alpha": 0.5}, lambda x: F.elu(x, alpha=0.5)),
    ("selu", {}, F.selu),
    ("gelu", {}, F.gelu),
    ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
    ("silu", {}, F.silu),
    ("mish", {}, F.mish),
    ("softplus", {}, F.softplus),
    ("softplus", {"beta": 2.0, "threshold": 5.0}, lambda x: F.softplus(x, beta=2.0, threshold=5.0)),
    ("relu6", {}, F.relu6),
    ("hardtanh", {}, F.hardtanh),
    ("hardtanh", {"min_val": -2.0, "max_val": 3.0}, lambda x: F.hardtanh(x, -2.0, 3.0)),
    ("sigmoid", {}, torch.sigmoid),
    ("tanh", {}, torch.tanh),
]


@pytest.mark.parametrize(
    ("name", "params", "reference"),
    ELEMENTWISE_REFERENCES,
    ids=[f"{name}-{params}" for name, params, _ in ELEMENTWISE_REFERENCES],
)
def test_activation_matches_torch_functional(
    name: str, params: dict[str, Any], reference: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    x = torch.linspace(-6.0, 6.0, 49)
    torch.testing.assert_close(build(name, params)(x), reference(x))


# --- derivatives -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "inputs", "expected"),
    [
        ("sigmoid", None, [0.0], [0.25]),
        ("tanh", None, [0.0], [1.0]),
        ("relu", None, [0.5, 3.0, 100.0], [1.0, 1.0, 1.0]),
        ("relu", None, [-0.5, -3.0, -100.0], [0.0, 0.0, 0.0]),
        ("leaky_relu", None, [-2.0, 2.0], [0.01, 1.0]),
        ("leaky_relu", {"negative_slope": 0.2}, [-3.0, -0.5, 0.5], [0.2, 0.2, 1.0]),
        ("identity", None, [-2.0, 0.0, 5.0], [1.0, 1.0, 1.0]),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_derivative_known_values(
    name: str, params: dict[str, Any] | None, inputs: list[float], expected: list[float]
) -> None:
    close(grad_of(name, inputs, params), expected, atol=1e-6)


def test_tanh_derivative_is_one_minus_f_squared() -> None:
    z = torch.linspace(-3.0, 3.0, 13)
    torch.testing.assert_close(grad_of("tanh", z.tolist()), 1 - torch.tanh(z) ** 2)


def test_step_derivative_is_exactly_zero_everywhere() -> None:
    grad = grad_of("step", [-100.0, -1.0, -0.0, 0.0, 1e-6, 1.0, 100.0])
    assert torch.equal(grad, torch.zeros(7))


def test_step_with_straight_through_estimator_passes_gradient_unchanged() -> None:
    grad = grad_of("step", [-100.0, -1.0, 0.0, 1.0, 100.0], {"ste": True})
    assert torch.equal(grad, torch.ones(5))


def test_step_backward_gives_earlier_layers_zero_gradients_not_none() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 4)
    build("step")(layer(torch.randn(5, 3))).sum().backward()
    assert layer.weight.grad is not None and torch.equal(layer.weight.grad, torch.zeros(4, 3))


def test_softmax_derivative_is_diagonal_of_jacobian() -> None:
    module = build("softmax")
    z = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    diagonals = torch.stack(
        [torch.diagonal(torch.autograd.functional.jacobian(module, row)) for row in z]
    )
    torch.testing.assert_close(derivative(module, get("softmax"), z), diagonals)


def test_softmax_derivative_equals_f_times_one_minus_f() -> None:
    z = torch.tensor([1.0, 2.0, 3.0])
    f = torch.softmax(z, dim=-1)
    torch.testing.assert_close(derivative(build("softmax"), get("softmax"), z), f * (1 - f))


def test_derivative_does_not_leave_a_graph_on_the_input() -> None:
    z = torch.tensor([0.5, -0.5], requires_grad=True)
    derivative(build("tanh"), get("tanh"), z)
    assert z.grad is None


# --- max_abs_derivative ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected", "tolerance"),
    [
        ("sigmoid", 0.25, 1e-6),
        ("tanh", 1.0, 1e-6),
        ("relu", 1.0, 0.0),
        ("step", 0.0, 0.0),
        ("identity", 1.0, 0.0),
        ("softmax", 0.25, 0.0),
        ("selu", 1.7581, 5e-3),
        ("gelu", 1.129, 5e-3),
    ],
)
def test_max_abs_derivative(name: str, expected: float, tolerance: float) -> None:
    assert max_abs_derivative(get(name)) == pytest.approx(expected, abs=tolerance)


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [("leaky_relu", {"negative_slope": -2.0}, 2.0), ("elu", {"alpha": 2.0}, 2.0)],
)
def test_max_abs_derivative_uses_the_given_params(
    name: str, params: dict[str, Any], expected: float
) -> None:
    assert max_abs_derivative(get(name), params) == pytest.approx(expected, abs=1e-6)


# --- registry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", list(activations.REGISTRY.values()), ids=lambda s: s.name)
@pytest.mark.parametrize("field", ["formula", "output_range", "derivative", "typical_use"])
def test_every_spec_documents_field(spec: ActivationSpec, field: str) -> None:
    assert getattr(spec, field).strip()


def test_canonical_names_are_lower_case_identifiers() -> None:
    bad = [n for n in activations.names() if n != n.lower() or not n.isidentifier()]
    assert bad == []


def test_canonical_names_are_unique() -> None:
    # REGISTRY is a dict, so a duplicated spec would silently replace the first one.
    spec_names = [spec.name for spec in BUILTINS]
    assert len(spec_names) == len(set(spec_names))


def test_registry_is_keyed_by_each_specs_own_name() -> None:
    assert all(key == spec.name for key, spec in activations.REGISTRY.items())


def test_aliases_never_shadow_a_canonical_name_or_each_other() -> None:
    aliases = [alias for alias, _ in ALL_ALIASES]
    assert len(aliases) == len(set(aliases))
    assert not set(aliases) & set(activations.names())


@pytest.mark.parametrize("name", REQUIRED)
def test_required_activation_is_registered(name: str) -> None:
    assert get(name).name == name


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [("linear", "identity"), ("swish", "silu"), ("logistic", "sigmoid"), *ALL_ALIASES],
)
def test_alias_resolves_to_canonical_spec(alias: str, canonical: str) -> None:
    assert get(alias) is activations.REGISTRY[canonical]


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("Leaky-ReLU", "leaky_relu"),
        ("RELU", "relu"),
        ("Sigmoid", "sigmoid"),
        ("  tanh ", "tanh"),
        ("SWISH", "silu"),
        ("Binary-Step", "step"),
    ],
)
def test_lookup_is_case_insensitive_and_accepts_dashes(spelling: str, canonical: str) -> None:
    assert get(spelling).name == canonical


def test_names_lists_registry_in_order() -> None:
    assert activations.names() == list(activations.REGISTRY)


def test_activation_error_is_an_actbench_error() -> None:
    assert issubclass(ActivationError, ActbenchError)


# --- errors ------------------------------------------------------------------------------------


def test_unknown_activation_names_it_and_suggests_closest() -> None:
    with pytest.raises(ActivationError) as info:
        get("rleu")
    message = str(info.value)
    assert "unknown activation 'rleu'" in message
    assert "did you mean 'relu'" in message


def test_unknown_activation_lists_every_choice() -> None:
    with pytest.raises(ActivationError) as info:
        get("rleu")
    message = str(info.value)
    assert "choices:" in message
    assert all(name in message for name in activations.names())


def test_unknown_activation_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(ActivationError) as info:
        get("zzzzzz")
    assert "did you mean" not in str(info.value)


def test_unknown_activation_suggestion_ignores_case() -> None:
    with pytest.raises(ActivationError, match="did you mean 'relu'"):
        get("RLEU")


@pytest.mark.parametrize(
    ("name", "params", "fragments"),
    [
        pytest.param(
            "leaky_relu",
            {"slope": 0.1},
            ["unknown parameter 'slope'", "leaky_relu", "negative_slope"],
            id="unknown-param",
        ),
        pytest.param(
            "softplus",
            {"alpha": 1.0},
            ["'alpha'", "beta", "threshold"],
            id="unknown-param-lists-all-valid",
        ),
        pytest.param(
            "relu",
            {"inplace": True},
            ["relu", "takes no parameters", "'inplace'"],
            id="param-on-paramless",
        ),
        pytest.param(
            "leaky_relu",
            {"negative_slope": "steep"},
            ["negative_slope", "must be a number", "'steep'"],
            id="string-for-number",
        ),
        pytest.param(
            "leaky_relu",
            {"negative_slope": True},
            ["negative_slope", "must be a number"],
            id="bool-for-number",
        ),
        pytest.param("step", {"ste": 1}, ["'ste'", "true or false"], id="number-for-bool"),
        pytest.param("step", {"ste": "yes"}, ["'ste'", "true or false"], id="string-for-bool"),
        pytest.param("elu", {"alpha": -1}, ["'alpha'", ">= 0", "-1"], id="elu-alpha-negative"),
        pytest.param("softplus", {"beta": 0}, ["'beta'", "> 0"], id="softplus-beta-zero"),
        pytest.param(
            "leaky_relu",
            {"negative_slope": math.nan},
            ["negative_slope", "finite"],
            id="nan",
        ),
        pytest.param("prelu", {"init": math.inf}, ["'init'", "finite"], id="inf"),
        pytest.param(
            "hardtanh",
            {"min_val": 1.0, "max_val": 1.0},
            ["hardtanh", "min_val must be < max_val"],
            id="hardtanh-equal",
        ),
        pytest.param(
            "hardtanh",
            {"min_val": 2.0},
            ["hardtanh", "min_val must be < max_val"],
            id="hardtanh-min-above-default-max",
        ),
        pytest.param(
            "gelu",
            {"approximate": "fast"},
            ["'approximate'", "none, tanh", "'fast'"],
            id="gelu-approximate-choice",
        ),
    ],
)
def test_invalid_params_raise_activation_error_naming_the_problem(
    name: str, params: dict[str, Any], fragments: list[str]
) -> None:
    with pytest.raises(ActivationError) as info:
        build(name, params)
    message = str(info.value)
    missing = [fragment for fragment in fragments if fragment not in message]
    assert missing == [], message


@pytest.mark.parametrize(
    ("name", "params"),
    [("elu", {"alpha": 0}), ("softplus", {"threshold": 0}), ("leaky_relu", {"negative_slope": -1})],
)
def test_boundary_param_values_are_accepted(name: str, params: dict[str, Any]) -> None:
    get(name).resolve_params(params)


# Every numeric parameter enters a float32 tensor: beyond float32 it would become inf there.
FLOAT_PARAMS = [
    (spec.name, key)
    for spec in activations.REGISTRY.values()
    for key, param in spec.params.items()
    if isinstance(param.default, float)
]


def test_float_params_cover_the_parameterised_activations() -> None:
    assert {name for name, _ in FLOAT_PARAMS} == {
        "leaky_relu",
        "elu",
        "softplus",
        "hardtanh",
        "prelu",
    }


@pytest.mark.parametrize(("name", "key"), FLOAT_PARAMS)
@pytest.mark.parametrize("value", [1e39, "1e39", 10**39])
def test_param_beyond_float32_is_an_error_naming_it(name: str, key: str, value: Any) -> None:
    with pytest.raises(ActivationError) as info:
        get(name).resolve_params({key: value})
    message = str(info.value)
    assert f"activation '{name}' parameter '{key}'" in message, message
    assert "float32" in message


@pytest.mark.parametrize(
    ("name", "key"), [("hardtanh", "min_val"), ("leaky_relu", "negative_slope")]
)
def test_negative_param_beyond_float32_is_an_error(name: str, key: str) -> None:
    with pytest.raises(ActivationError, match="float32"):
        get(name).resolve_params({key: -1e39})


def test_param_that_rounds_to_zero_in_float32_is_an_error() -> None:
    with pytest.raises(ActivationError, match="rounds to 0"):
        get("softplus").resolve_params({"beta": 1e-50})


def test_param_integer_beyond_float64_is_an_error() -> None:
    with pytest.raises(ActivationError, match="too large"):
        get("elu").resolve_params({"alpha": 10**400})


def test_largest_float32_param_is_accepted() -> None:
    assert get("leaky_relu").resolve_params({"negative_slope": 3.4e38}) == {
        "negative_slope": 3.4e38
    }


def test_a_huge_bad_param_value_is_quoted_briefly() -> None:
    with pytest.raises(ActivationError) as info:
        get("elu").resolve_params({"alpha": list(range(100_000))})
    assert len(str(info.value)) < 200


# --- resolve_params ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("relu", None, {}),
        ("step", None, {"ste": False}),
        ("softplus", None, {"beta": 1.0, "threshold": 20.0}),
        ("softplus", {"beta": 2}, {"beta": 2.0, "threshold": 20.0}),
        ("hardtanh", {"max_val": 3}, {"min_val": -1.0, "max_val": 3.0}),
        ("gelu", {}, {"approximate": "none"}),
        ("leaky_relu", {"negative_slope": 0.2}, {"negative_slope": 0.2}),
    ],
)
def test_resolve_params_fills_defaults(
    name: str, given: dict[str, Any] | None, expected: dict[str, Any]
) -> None:
    assert get(name).resolve_params(given) == expected


def test_resolve_params_converts_ints_to_floats() -> None:
    resolved = get("elu").resolve_params({"alpha": 2})
    assert type(resolved["alpha"]) is float


def test_resolve_params_does_not_mutate_the_given_mapping() -> None:
    given = {"beta": 2}
    get("softplus").resolve_params(given)
    assert given == {"beta": 2}


# --- modules -----------------------------------------------------------------------------------


def test_prelu_has_a_learnable_parameter_initialised_from_init() -> None:
    parameters = list(build("prelu", {"init": 0.1}).parameters())
    assert len(parameters) == 1
    assert parameters[0].requires_grad
    torch.testing.assert_close(parameters[0].detach(), torch.tensor([0.1]))


@pytest.mark.parametrize("name", [n for n in activations.names() if n != "prelu"])
def test_activation_has_no_learnable_parameters(name: str) -> None:
    assert list(build(name).parameters()) == []


def test_build_returns_a_fresh_module_each_time() -> None:
    first, second = build("prelu"), build("prelu")
    assert first is not second
    assert first.weight is not second.weight


@pytest.mark.parametrize("name", activations.names())
def test_every_activation_builds_a_module_that_keeps_shape(name: str) -> None:
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    assert build(name)(x).shape == x.shape


def test_importing_activations_does_not_import_torch() -> None:
    code = "import actbench.activations, sys; assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- every entry declares every field, consistently ----------------------------------------------
# Walks the registry, so a new entry is checked without a line here: its kernels against the
# module and autograd, its gain against torch, its saturation rule, its whole-layer derivative.


def _variants() -> list[tuple[ActivationSpec, dict[str, Any]]]:
    """Every registered spec with its defaults, and with the non-default params of the cases."""
    found = [(spec, {}) for spec in activations.REGISTRY.values()]
    found += [(get(name), params) for name, params in ACTIVATION_VARIANTS if params]
    return found


VARIANTS = _variants()
VARIANT_IDS = [f"{spec.name}{params or ''}" for spec, params in VARIANTS]

# torch.nn.init.calculate_gain's name (and the param it takes) where torch knows the activation.
TORCH_GAINS: dict[str, tuple[str, str | None]] = {
    "identity": ("linear", None),
    "sigmoid": ("sigmoid", None),
    "tanh": ("tanh", None),
    "relu": ("relu", None),
    "selu": ("selu", None),
    "leaky_relu": ("leaky_relu", "negative_slope"),
    "prelu": ("leaky_relu", "init"),
}


def _grid() -> torch.Tensor:
    """[3, 64, 50] float32: spread-out values, with edges (signed zeros, kinks, clips, extremes,
    a subnormal, inf and NaN) in the first row."""
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(3, 64, 50, generator=generator) * 8
    edges = [0.0, -0.0, 6.0, -1.0, 1.0, 0.5, -2.0, 20.0, -20.0, 1e-30, -1e-30, 1e-45, 88.0]
    edges += [-88.0, 1e30, -1e30, math.inf, -math.inf, math.nan]
    z[0, 0, : len(edges)] = torch.tensor(edges)
    return z


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit (same dtype and shape), NaN where the other has NaN."""
    nan = a.isnan()
    return bool(
        a.dtype == b.dtype and torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan])
    )


@pytest.mark.parametrize(("spec", "params"), VARIANTS, ids=VARIANT_IDS)
def test_every_factory_builds_a_fresh_module(spec: ActivationSpec, params: dict[str, Any]) -> None:
    first, second = spec.build(params), spec.build(params)
    assert isinstance(first, torch.nn.Module)
    assert first is not second


@pytest.mark.parametrize(("spec", "params"), VARIANTS, ids=VARIANT_IDS)
def test_every_declared_kernel_equals_the_module_and_autograd(
    spec: ActivationSpec, params: dict[str, Any]
) -> None:
    kernels = spec.closed_form(params)
    module = spec.build(params)
    if kernels is None:  # no closed form: only allowed where autograd must train parameters
        assert spec.kernels is None
        assert any(True for _ in module.parameters()), spec.name
        return
    assert not any(True for _ in module.parameters()), "kernels cannot train a parameter"
    z = _grid()
    upstream = torch.randn(z.shape, generator=torch.Generator().manual_seed(1))
    upstream[0, 0, :3] = torch.tensor([0.0, -1.0, 1e-30])
    leaf = z.clone().requires_grad_(True)
    expected_h = module(leaf)
    (expected_grad,) = torch.autograd.grad(expected_h, leaf, upstream)
    h = torch.full_like(z, 7.0)  # stale contents must be overwritten
    kernels.forward(z, h)
    grad = torch.full_like(z, 7.0)
    kernels.backward(upstream, z, h, grad)
    assert _same(h, expected_h.detach())
    assert _same(grad, expected_grad)


def test_the_torch_gain_table_names_every_activation_torch_knows() -> None:
    known = set()
    for name in activations.names():
        try:
            torch.nn.init.calculate_gain(name)  # type: ignore[arg-type]
        except ValueError:
            continue
        known.add(name)
    assert known <= set(TORCH_GAINS)
    assert set(TORCH_GAINS) <= set(activations.names())


@pytest.mark.parametrize(("spec", "params"), VARIANTS, ids=VARIANT_IDS)
def test_every_gain_is_declared_and_matches_torch_where_torch_knows_it(
    spec: ActivationSpec, params: dict[str, Any]
) -> None:
    gain = spec.init_gain(params)
    assert isinstance(gain, float)
    assert math.isfinite(gain) and gain > 0
    if spec.name in TORCH_GAINS:
        nonlinearity, key = TORCH_GAINS[spec.name]
        param = None if key is None else spec.resolve_params(params)[key]
        assert gain == torch.nn.init.calculate_gain(nonlinearity, param)  # type: ignore[arg-type]


def test_an_entry_without_a_gain_cannot_be_declared() -> None:
    with pytest.raises(TypeError, match="gain"):
        ActivationSpec(  # type: ignore[call-arg]
            name="x",
            factory=torch.nn.Identity,
            formula="f(x) = x",
            output_range="(-inf, inf)",
            derivative="1",
            typical_use="-",
            kernels=None,
            saturation="derivative",
        )


@pytest.mark.parametrize(("spec", "params"), VARIANTS, ids=VARIANT_IDS)
def test_every_saturation_rule_is_declared_and_fits_the_derivative(
    spec: ActivationSpec, params: dict[str, Any]
) -> None:
    rule = spec.saturation_rule(params)
    assert rule in activations.SATURATION_RULES
    z = torch.linspace(-20.0, 20.0, 4001, dtype=torch.float64)
    if not spec.elementwise:
        z = torch.stack([z, torch.zeros_like(z)], dim=1)
    slopes = derivative(spec.build(params).double(), spec, z).abs()
    if rule == "never":  # |f'| the same non-zero value everywhere
        assert bool((slopes == slopes.max()).all()) and slopes.max() > 0
    elif rule == "always":  # f' = 0 everywhere: 1% of max |f'| = 0 would count none
        assert bool((slopes == 0).all())
    else:  # read element by element: |f'| has a scale to compare with
        assert max_abs_derivative(spec, params) > 0


@pytest.mark.parametrize(("spec", "params"), VARIANTS, ids=VARIANT_IDS)
def test_only_whole_layer_entries_couple_the_units_of_a_layer(
    spec: ActivationSpec, params: dict[str, Any]
) -> None:
    module = spec.build(params)
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    moved = x.clone()
    moved[:, 0] += 3.0  # one unit's input changes: do the other units' outputs?
    with torch.no_grad():
        others, moved_others = module(x)[:, 1:], module(moved)[:, 1:]
    assert spec.elementwise == torch.equal(others, moved_others), spec.name


@pytest.mark.parametrize(
    "spec", [s for s in activations.REGISTRY.values() if not s.elementwise], ids=lambda s: s.name
)
def test_whole_layer_entries_declare_the_jacobians_diagonal_and_its_bound(
    spec: ActivationSpec,
) -> None:
    assert spec.whole_layer is not None
    module = spec.build()
    z = torch.randn(5, 7, generator=torch.Generator().manual_seed(0)) * 4
    z[0] = torch.tensor([30.0, -30.0, 0.0, 0.0, 1.0, -1.0, 2.0])
    with torch.no_grad():
        h = module(z)
    diagonal = spec.whole_layer.diagonal(h, None)
    jacobians = [torch.autograd.functional.jacobian(module, row) for row in z]
    torch.testing.assert_close(diagonal, torch.stack([j.diagonal() for j in jacobians]))
    assert _same(spec.whole_layer.diagonal(h, torch.full_like(h, 7.0)), diagonal)
    wide = torch.randn(2000, 3, generator=torch.Generator().manual_seed(1)) * 10
    with torch.no_grad():
        assert spec.whole_layer.diagonal(module(wide), None).abs().max() <= (
            spec.whole_layer.max_abs_derivative
        )
