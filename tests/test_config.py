"""Config loading: defaults, shipped files, --set overrides, error messages and robustness."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from sklearn.model_selection import train_test_split

from actbench import activations
from actbench.config import (
    MAX_CONFIG_BYTES,
    MAX_GRID_POINTS,
    Config,
    DataConfig,
    MetricsConfig,
    ModelConfig,
    TrainConfig,
    grid_points,
    grid_size,
    load_config,
    one_activation,
    require_one_activation,
    validate,
)
from actbench.errors import ConfigError

CONFIGS = Path(__file__).parents[1] / "configs"
SHIPPED = sorted(CONFIGS.glob("*.yaml"))
SECTIONS: dict[str, type[BaseModel]] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "metrics": MetricsConfig,
}
DOTTED_KEYS = [
    *Config.model_fields,
    *(f"{section}.{key}" for section, model in SECTIONS.items() for key in model.model_fields),
]
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def write(directory: Path, text: str, name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path | None = None, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides or [])
    return str(info.value)


def assert_mentions(message: str, fragments: list[str]) -> None:
    missing = [fragment for fragment in fragments if fragment not in message]
    assert missing == [], message


# --- defaults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "expected"),
    [
        ("data", "n_samples", 1000),
        ("data", "n_features", 20),
        ("data", "n_informative", 2),
        ("data", "n_redundant", 2),
        ("data", "n_classes", 2),
        ("data", "class_sep", 1.0),
        ("data", "flip_y", 0.01),
        ("data", "test_size", 0.2),
        ("data", "random_state", 42),
        ("model", "hidden", (50,)),
        ("model", "head", "softmax"),
        ("train", "epochs", 100),
        ("train", "batch_size", 64),
        ("train", "optimizer", "adam"),
        ("train", "lr", 0.001),
        ("train", "weight_decay", 0.0),
        ("train", "seeds", 5),
        ("train", "device", "auto"),
        ("metrics", "dormant_tau", 0.1),
    ],
)
def test_default_config_matches_design(section: str, key: str, expected: Any) -> None:
    assert getattr(getattr(load_config(), section), key) == expected


def test_default_seeds_are_zero_to_four() -> None:
    assert load_config().train.seed_values == (0, 1, 2, 3, 4)


def test_default_config_equals_empty_document() -> None:
    assert load_config() == validate({})


# --- shipped configs ---------------------------------------------------------------------------


def test_shipped_configs_exist() -> None:
    assert {path.name for path in SHIPPED} >= {"all.yaml", "smoke.yaml", "tutorial.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_loads(path: Path) -> None:
    assert isinstance(load_config(path), Config)


def test_all_yaml_has_twelve_activations() -> None:
    assert len(load_config(CONFIGS / "all.yaml").activations) == 12


def test_all_yaml_has_leaky_relu_with_slope_point_two() -> None:
    entries = load_config(CONFIGS / "all.yaml").activations
    leaky = [a for a in entries if a.name == "leaky_relu" and a.params["negative_slope"] == 0.2]
    assert len(leaky) == 1


def test_all_yaml_labels_are_unique() -> None:
    labels = [a.label for a in load_config(CONFIGS / "all.yaml").activations]
    assert len(labels) == len(set(labels))


def test_smoke_yaml_has_three_activations() -> None:
    assert len(load_config(CONFIGS / "smoke.yaml").activations) == 3


def test_smoke_yaml_has_two_seeds() -> None:
    assert load_config(CONFIGS / "smoke.yaml").train.seed_values == (0, 1)


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        (lambda c: c.train.seed_values, (0,)),
        (lambda c: c.train.epochs, 20),
        (lambda c: tuple(a.name for a in c.activations), ("relu",)),
        (lambda c: c.train.batch_size >= c.data.n_train, True),
    ],
    ids=["one-seed", "20-epochs", "relu", "full-batch"],
)
def test_tutorial_yaml(attribute: Any, expected: Any) -> None:
    assert attribute(load_config(CONFIGS / "tutorial.yaml")) == expected


# --- round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [None, *SHIPPED], ids=lambda p: p.name if p else "defaults")
def test_to_yaml_round_trips(path: Path | None) -> None:
    config = load_config(path)
    assert validate(yaml.safe_load(config.to_yaml())) == config


def test_round_trip_with_non_default_params_and_seed_list() -> None:
    config = load_config(
        None,
        [
            "activations=[{name: step, params: {ste: true}}, {name: gelu, "
            "params: {approximate: tanh}}, {name: hardtanh, params: {min_val: -2}, label: ht}]",
            "train.seeds=[7, 3]",
            "train.optimizer=sgd",
            "train.momentum=0.9",
            "model.hidden=[4, 5]",
        ],
    )
    assert validate(yaml.safe_load(config.to_yaml())) == config


# --- overrides ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "attribute", "expected"),
    [
        (["train.lr=0.3"], lambda c: c.train.lr, 0.3),
        (["train.lr=1e-3"], lambda c: c.train.lr, 0.001),
        (["train.lr=1.5e-2"], lambda c: c.train.lr, 0.015),
        (["data.n_samples=500"], lambda c: c.data.n_samples, 500),
        (["model.hidden=[3,3,3]"], lambda c: c.model.hidden, (3, 3, 3)),
        (["model.hidden=8"], lambda c: c.model.hidden, (8,)),
        (
            ["activations=[relu,tanh]"],
            lambda c: tuple(a.name for a in c.activations),
            ("relu", "tanh"),
        ),
        (
            ["activations=[{name: step, params: {ste: true}}]"],
            lambda c: c.activations[0].params["ste"],
            True,
        ),
        (["train.seeds=[1,2]"], lambda c: c.train.seed_values, (1, 2)),
        (["train.seeds=3"], lambda c: c.train.seed_values, (0, 1, 2)),
        (["train.device=cuda:1"], lambda c: c.train.device, "cuda:1"),
        ([" train.epochs = 7"], lambda c: c.train.epochs, 7),
        (["train.lr=0.1", "train.lr=0.2"], lambda c: c.train.lr, 0.2),
        (["train.optimizer=sgd", "train.momentum=0.9"], lambda c: c.train.momentum, 0.9),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else "",
)
def test_set_override(overrides: list[str], attribute: Any, expected: Any) -> None:
    assert attribute(load_config(None, overrides)) == expected


def test_set_override_yields_float_type_for_float_key() -> None:
    assert type(load_config(None, ["train.lr=1"]).train.lr) is float


def test_set_override_replaces_file_value_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  lr: 0.5\n  epochs: 3\n")
    train = load_config(path, ["train.lr=0.3"]).train
    assert (train.lr, train.epochs) == (0.3, 3)


def test_loading_does_not_depend_on_earlier_overrides() -> None:
    load_config(None, ["train.lr=0.3"])
    assert load_config().train.lr == 0.001


# --- errors ------------------------------------------------------------------------------------


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    assert_mentions(config_error(tmp_path / "nope.yaml"), ["nope.yaml", "not found"])


def test_directory_instead_of_file_is_config_error(tmp_path: Path) -> None:
    assert_mentions(config_error(tmp_path), [str(tmp_path), "directory"])


def test_undecodable_file_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00data")
    assert_mentions(config_error(path), ["binary.yaml", "cannot read"])


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param("", ["empty"], id="empty"),
        pytest.param("# only a comment\n", ["empty"], id="only-comment"),
        pytest.param("- relu\n- tanh\n", ["mapping", "list"], id="list"),
        pytest.param("relu\n", ["mapping", "str"], id="scalar"),
        pytest.param("train: [1, 2\n", ["invalid YAML", "line"], id="bad-syntax"),
        pytest.param("train:\n\tlr: 0.1\n", ["line 2", "tabs"], id="tab-indent"),
        pytest.param("trian:\n  lr: 0.1\n", ["'trian'", "did you mean 'train'"], id="top-key"),
        pytest.param(
            "train:\n  lrr: 0.1\n", ["'train.lrr'", "did you mean 'train.lr'"], id="nested-key"
        ),
        pytest.param("train: 5\n", ["'train'", "mapping"], id="section-not-mapping"),
        pytest.param("train:\n  epochs: [1]\n", ["train.epochs", "integer"], id="list-for-int"),
        pytest.param("train:\n  lr: yes\n", ["train.lr", "number", "true"], id="bool-for-float"),
        pytest.param("train:\n  epochs: true\n", ["train.epochs", "number"], id="bool-for-int"),
        pytest.param("train:\n  lr: .nan\n", ["train.lr", "finite"], id="nan"),
        pytest.param("train:\n  lr: .inf\n", ["train.lr", "finite"], id="inf"),
        pytest.param("data:\n  class_sep: -.inf\n", ["data.class_sep", "finite"], id="-inf"),
        pytest.param(
            "train:\n  epochs: 0\n", ["train.epochs", "greater than or equal to 1"], id="epochs-0"
        ),
        pytest.param(
            "data:\n  test_size: 0\n", ["data.test_size", "greater than 0"], id="test-size-0"
        ),
        pytest.param(
            "data:\n  test_size: 1\n", ["data.test_size", "less than 1"], id="test-size-1"
        ),
        pytest.param(
            "data:\n  n_samples: 4\n  test_size: 0.9\n",
            ["test_size", "training", "test samples"],
            id="test-split-rounds-to-zero",
        ),
        pytest.param(
            "data: {n_features: 3, n_informative: 2, n_redundant: 2}\n",
            ["n_informative + n_redundant", "n_features = 3"],
            id="too-few-features",
        ),
        pytest.param(
            "data:\n  n_classes: 3\n",
            ["n_classes", "n_informative >= 3"],
            id="classes-need-informative",
        ),
        pytest.param("data:\n  n_classes: 1\n", ["data.n_classes", "2"], id="one-class"),
        pytest.param(
            "data: {n_classes: 3, n_informative: 3}\nmodel: {head: sigmoid}\n",
            ["head sigmoid", "n_classes is 3"],
            id="sigmoid-head-3-classes",
        ),
        pytest.param("model:\n  head: tanh\n", ["model.head", "softmax", "sigmoid"], id="bad-head"),
        pytest.param("model:\n  hidden: [50, 0]\n", ["model.hidden[1]", "1"], id="width-0"),
        pytest.param("model:\n  hidden: []\n", ["model.hidden", "at least 1"], id="no-layers"),
        pytest.param(
            "activations: [relu, relu]\n", ["label 'relu'", "twice"], id="duplicate-label"
        ),
        pytest.param(
            "activations: [relu, ReLU]\n", ["label 'relu'", "twice"], id="duplicate-after-case"
        ),
        pytest.param(
            "activations:\n  - {name: relu, label: x}\n  - {name: tanh, label: x}\n",
            ["label 'x'", "twice"],
            id="duplicate-explicit-label",
        ),
        pytest.param("activations: []\n", ["activations", "at least 1"], id="no-activations"),
        pytest.param(
            "activations: [rleu]\n",
            ["unknown activation 'rleu'", "did you mean 'relu'"],
            id="unknown-activation",
        ),
        pytest.param(
            "activations:\n  - {name: elu, params: {alpha: -1}}\n",
            ["'alpha'", ">= 0"],
            id="bad-activation-param",
        ),
        pytest.param(
            "activations:\n  - {name: relu, colour: red}\n",
            ["activations[0].colour", "extra"],
            id="unknown-entry-key",
        ),
        pytest.param("train:\n  seeds: 0\n", ["train.seeds", "1"], id="seeds-0"),
        pytest.param("train:\n  seeds: [1, 2, 1]\n", ["train.seeds", "repeats"], id="seed-dup"),
        pytest.param("train:\n  seeds: []\n", ["train.seeds", "empty"], id="seed-list-empty"),
        pytest.param("train:\n  device: gpu\n", ["'gpu'", "cuda"], id="device-gpu"),
        pytest.param("train:\n  momentum: 0.9\n", ["momentum", "sgd", "adam"], id="momentum-adam"),
        pytest.param("train:\n  optimizer: rmsprop\n", ["train.optimizer", "sgd"], id="optimizer"),
        pytest.param(
            "metrics:\n  dormant_tau: 2\n", ["metrics.dormant_tau", "1"], id="tau-above-1"
        ),
    ],
)
def test_invalid_file_raises_config_error_naming_the_problem(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    assert_mentions(config_error(write(tmp_path, text)), fragments)


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        pytest.param(["train.lr"], ["KEY=VALUE", "'train.lr'"], id="no-equals"),
        pytest.param(["=3"], ["KEY=VALUE"], id="no-key"),
        pytest.param(["train.lr="], ["train.lr", "needs a value"], id="no-value"),
        pytest.param(["train..lr=1"], ["train..lr", "empty part"], id="empty-part"),
        pytest.param(["train.foo=1"], ["'train.foo'", "train.lr"], id="unknown-nested"),
        pytest.param(["train.lrr=1"], ["did you mean 'train.lr'"], id="nested-typo"),
        pytest.param(["trian.lr=1"], ["'trian'", "did you mean 'train'"], id="section-typo"),
        pytest.param(["train.lr=[1,"], ["--set train.lr", "invalid YAML"], id="bad-yaml"),
        pytest.param(["train.lr.x=1"], ["'train.lr'", "no sub-keys"], id="into-scalar"),
        pytest.param(["activations.relu=1"], ["'activations'", "no sub-keys"], id="into-list"),
        pytest.param(["train=5"], ["'train'", "mapping"], id="section-to-scalar"),
        pytest.param(["train=5", "train.lr=1"], ["'train'", "mapping"], id="into-replaced-section"),
        pytest.param(["train.lr=abc"], ["train.lr", "number"], id="word-for-float"),
        pytest.param(["train.lr=yes"], ["train.lr", "number"], id="bool-for-float"),
        pytest.param(["train.seeds=0"], ["train.seeds"], id="seeds-0"),
        pytest.param(["train.seeds=[1,1]"], ["train.seeds", "repeats"], id="seed-dup"),
        pytest.param(["train.device=gpu"], ["'gpu'", "cuda"], id="device-gpu"),
        pytest.param(["train.momentum=0.5"], ["momentum", "sgd"], id="momentum-adam"),
        pytest.param(["model.hidden=[3,0]"], ["model.hidden[1]"], id="width-0"),
        pytest.param(["activations=[rleu]"], ["did you mean 'relu'"], id="unknown-activation"),
    ],
)
def test_invalid_override_raises_config_error_naming_the_problem(
    overrides: list[str], fragments: list[str]
) -> None:
    assert_mentions(config_error(None, overrides), fragments)


# --- labels and names --------------------------------------------------------------------------


def activation(entry: str) -> Any:
    return load_config(None, [f"activations=[{entry}]"]).activations[0]


@pytest.mark.parametrize(
    ("entry", "label"),
    [
        ("{name: leaky_relu, params: {negative_slope: 0.2}}", "leaky_relu(negative_slope=0.2)"),
        ("{name: leaky_relu, params: {negative_slope: 0.01}}", "leaky_relu"),
        (
            "{name: hardtanh, params: {min_val: -2, max_val: 2}}",
            "hardtanh(min_val=-2.0, max_val=2.0)",
        ),
        ("{name: step, params: {ste: true}}", "step(ste=True)"),
        ("{name: leaky_relu, params: {negative_slope: 0.2}, label: lr02}", "lr02"),
        ("relu", "relu"),
        ("swish", "silu"),
    ],
)
def test_activation_label(entry: str, label: str) -> None:
    assert activation(entry).label == label


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("swish", "silu"),
        ("linear", "identity"),
        ("logistic", "sigmoid"),
        ("Leaky-ReLU", "leaky_relu"),
    ],
)
def test_activation_alias_is_canonicalised(spelling: str, canonical: str) -> None:
    assert activation(spelling).name == canonical


def test_activation_params_are_resolved_with_defaults() -> None:
    assert activation("softplus").params == {"beta": 1.0, "threshold": 20.0}


def test_explicit_label_is_kept_from_file() -> None:
    labels = [a.label for a in load_config(CONFIGS / "all.yaml").activations]
    assert "leaky_relu_0.2" in labels


# --- train/test sizes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_samples", "test_size"),
    [(1000, 0.2), (10, 0.7), (7, 0.3), (4, 0.5), (101, 0.33), (13, 0.1), (400, 0.25), (5, 0.5)],
)
def test_split_sizes_match_sklearn(n_samples: int, test_size: float) -> None:
    data = DataConfig(n_samples=n_samples, test_size=test_size)
    train, test = train_test_split(np.arange(n_samples), test_size=test_size, random_state=0)
    assert (data.n_train, data.n_test) == (len(train), len(test))


# --- known bugs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override", ["train.lr=inf", "train.weight_decay=inf", "data.class_sep=Infinity"]
)
def test_non_finite_number_written_as_plain_word_is_rejected(override: str) -> None:
    assert_mentions(config_error(None, [override]), ["finite"])


def test_activation_param_in_exponent_notation_becomes_float() -> None:
    entry = activation("{name: leaky_relu, params: {negative_slope: 1e-3}}")
    assert entry.params["negative_slope"] == 0.001


# The YAML is well-formed but PyYAML's constructors raise ValueError/AttributeError, which are
# not yaml.YAMLError and escape both read_yaml_mapping and parse_override.
CONSTRUCTOR_FAILURES = [
    "2001-02-30",
    "2001-13-01",
    "!!int 1.5",
    "!!float abc",
    "!!timestamp nope",
    "1" * 5000,
]


@pytest.mark.parametrize("value", CONSTRUCTOR_FAILURES, ids=lambda v: v[:16])
def test_override_value_rejected_by_yaml_constructor_is_config_error(value: str) -> None:
    config_error(None, [f"train.lr={value}"])


@pytest.mark.parametrize("value", CONSTRUCTOR_FAILURES, ids=lambda v: v[:16])
def test_file_value_rejected_by_yaml_constructor_is_config_error(
    tmp_path: Path, value: str
) -> None:
    config_error(write(tmp_path, f"train:\n  lr: {value}\n"))


def test_huge_n_samples_is_config_error() -> None:
    config_error(None, ["data.n_samples=" + "9" * 400])


# --- property-based ----------------------------------------------------------------------------

SCHEMA_WORDS = sorted(
    {
        *Config.model_fields,
        *(key for model in SECTIONS.values() for key in model.model_fields),
        "name",
        "params",
        "label",
        *activations.names(),
        *(param for spec in activations.REGISTRY.values() for param in spec.params),
    }
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(SCHEMA_WORDS)
)
keys = st.sampled_from(SCHEMA_WORDS) | st.text(max_size=8) | st.integers() | st.booleans()
yaml_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=6,
)
activation_entries = st.sampled_from(
    activations.names() + ["swish", "rleu"]
) | st.fixed_dictionaries(
    {"name": st.sampled_from(activations.names())},
    optional={
        "params": st.dictionaries(st.sampled_from(SCHEMA_WORDS), scalars, max_size=3),
        "label": st.text(max_size=6) | scalars,
    },
)
# Documents shaped like the schema (real sections and keys), so that validation goes deep.
schema_documents = st.fixed_dictionaries(
    {},
    optional={
        **{
            section: st.dictionaries(
                st.sampled_from(list(model.model_fields)), yaml_values, max_size=4
            )
            | yaml_values
            for section, model in SECTIONS.items()
        },
        "activations": st.lists(activation_entries, max_size=4) | yaml_values,
    },
)
documents = schema_documents | yaml_values


@pytest.fixture(scope="module")
def document_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("documents")


def returns_config_or_config_error(path: Path | None, overrides: list[str]) -> None:
    try:
        result = load_config(path, overrides)
    except ConfigError:
        return
    assert isinstance(result, Config)


@PROPERTY_SETTINGS
@given(document=documents)
@example(document={"train": {"lr": float("nan")}})
@example(document={"activations": [{"name": "step", "params": {"ste": 1}}]})
def test_any_yaml_document_gives_config_or_config_error(document_dir: Path, document: Any) -> None:
    path = write(document_dir, yaml.safe_dump(document, allow_unicode=True))
    returns_config_or_config_error(path, [])


@PROPERTY_SETTINGS
@given(text=st.text(max_size=80))
def test_any_text_file_gives_config_or_config_error(document_dir: Path, text: str) -> None:
    returns_config_or_config_error(write(document_dir, text, "raw.yaml"), [])


@PROPERTY_SETTINGS
@given(text=st.text())
@example(text="=")
@example(text="train.lr=")
@example(text=".=1")
def test_any_override_string_gives_config_or_config_error(text: str) -> None:
    returns_config_or_config_error(None, [text])


def rendered(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000)
    return text.removesuffix("\n...\n").strip()


# Fragments of YAML syntax glued together. Numbers carry spaces so that fragments cannot join
# into a malformed date, and no fragment spells a !!tag name; both are pinned by the tests above.
YAML_FRAGMENTS = [
    *"[]{},:-'\"#&*|>?!%@`\t\n ",
    "&a ",
    "*a",
    "~",
    "null",
    "true",
    "yes",
    "off",
    ".nan",
    "-.inf",
    ".inf",
    "inf",
    "nan",
    " 0 ",
    " -1 ",
    " 3 ",
    " 0.5 ",
    " 1e-3 ",
    " 1.0e+400 ",
    "name: ",
    "params: ",
    "label: ",
    "relu",
    "rleu",
    "negative_slope",
    "ste",
    "cuda:0",
]
yamlish = (
    yaml_values.map(rendered)
    | st.lists(st.sampled_from(YAML_FRAGMENTS), max_size=10).map("".join)
    | st.text(max_size=10)
)
dotted_keys = st.sampled_from(DOTTED_KEYS) | st.lists(
    st.sampled_from(SCHEMA_WORDS) | st.text(max_size=5), min_size=1, max_size=4
).map(".".join)


@PROPERTY_SETTINGS
@given(key=dotted_keys, value=yamlish)
@example(key="train.lr", value=".nan")
@example(key="train.seeds", value="[1, 1]")
@example(key="activations", value="[{name: step, params: {ste: 1}}]")
def test_any_key_value_override_gives_config_or_config_error(key: str, value: str) -> None:
    returns_config_or_config_error(None, [f"{key}={value}"])


# --- hostile input: bounded work, float32, duplicates, printable labels --------------------------


def alias_bomb(width: int = 9, depth: int = 9, indent: str = "") -> str:
    """A YAML mapping of `depth` anchors, each `width` aliases of the previous: width**depth."""
    lines = [f"{indent}l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"{indent}l{d}: &l{d} [{', '.join([f'*l{d - 1}'] * width)}]" for d in range(1, depth)]
    return "\n".join(lines) + "\n"


def flow_bomb(width: int = 9, depth: int = 9) -> str:
    """The same bomb as one flow sequence, to put under a single key or in --set."""
    items = [f"&l0 [{', '.join(['1'] * width)}]"]
    items += [f"&l{d} [{', '.join([f'*l{d - 1}'] * width)}]" for d in range(1, depth)]
    return "[" + ", ".join(items) + "]"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(alias_bomb(), id="top-level"),
        pytest.param(f"train:\n  lr: {flow_bomb()}\n", id="train.lr"),
        pytest.param(
            f"activations:\n  - name: leaky_relu\n    params: {{negative_slope: {flow_bomb()}}}\n",
            id="activation-param",
        ),
        pytest.param(f"activations:\n  - {{name: relu, label: {flow_bomb()}}}\n", id="label"),
        pytest.param(f"sweep:\n  train.lr: {flow_bomb()}\n", id="sweep"),
        pytest.param(f"x: {flow_bomb(width=2, depth=40)}\n", id="deep-and-narrow"),
    ],
)
def test_alias_bomb_is_refused_at_once_with_one_line(tmp_path: Path, text: str) -> None:
    started = time.perf_counter()
    message = config_error(write(tmp_path, text))
    assert time.perf_counter() - started < 2.0
    assert "aliases expand this document to more than 100,000 values" in message
    assert "\n" not in message and len(message) < 300


def test_aliases_within_the_limit_still_load(tmp_path: Path) -> None:
    text = "train: &t {lr: 0.01, epochs: 3}\nsweep: {train.epochs: [1, 2]}\n"
    assert load_config(write(tmp_path, text)).train.lr == 0.01


def test_recursive_alias_is_an_error(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, "train: &a {lr: *a}\n"))
    assert "alias refers to a node that contains it" in message


def test_alias_bomb_in_set_is_refused() -> None:
    started = time.perf_counter()
    message = config_error(None, [f"train.lr={flow_bomb()}"])
    assert time.perf_counter() - started < 2.0
    assert message.startswith("--set train.lr: ")
    assert "100,000 values" in message


def test_alias_bomb_in_sweep_is_refused() -> None:
    with pytest.raises(ConfigError, match="--sweep train.lr: .*100,000 values"):
        load_config(None, sweeps=[f"train.lr={flow_bomb()}"])


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("train:\n  lr: 0.1\n  epochs: 3\n  lr: 0.2\n", ["duplicate key 'lr'", "line 4", "line 2"]),
        ("train: {epochs: 3}\ntrain: {epochs: 4}\n", ["duplicate key 'train'", "line 2"]),
        (
            "activations:\n  - {name: relu, name: tanh}\n",
            ["duplicate key 'name'", "line 2", "first at line 2"],
        ),
    ],
    ids=["leaf", "section", "flow-mapping"],
)
def test_duplicate_key_is_an_error_naming_the_key_and_line(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    assert_mentions(config_error(write(tmp_path, text)), fragments)


def test_duplicate_key_in_set_value_is_an_error() -> None:
    message = config_error(None, ["activations=[{name: relu, name: tanh}]"])
    assert "duplicate key 'name'" in message


def test_merge_key_may_be_overridden(tmp_path: Path) -> None:
    path = write(tmp_path, "train:\n  <<: {lr: 0.1, epochs: 3}\n  lr: 0.2\n")
    train = load_config(path).train
    assert (train.lr, train.epochs) == (0.2, 3)


def test_config_file_above_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    assert "larger than 1 MiB" in config_error(path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_config_file_is_refused_without_reading_it() -> None:
    started = time.perf_counter()
    assert "larger than 1 MiB" in config_error(Path("/dev/zero"))
    assert time.perf_counter() - started < 2.0


def test_set_value_above_the_size_limit_is_refused() -> None:
    message = config_error(None, ["train.lr=" + "1" * (MAX_CONFIG_BYTES + 1)])
    assert "too long" in message and len(message) < 200


@pytest.mark.parametrize(
    "override",
    [
        "train.lr=1e39",
        "train.lr=3.5e38",
        "train.weight_decay=1e39",
        "data.class_sep=1e39",
        "data.class_sep=1e180",
        "data.class_sep=1e308",
    ],
)
def test_float_beyond_float32_is_one_error_naming_the_key(override: str) -> None:
    key = override.partition("=")[0]
    message = config_error(None, [override])
    assert message.startswith(f"{key}: ") and "float32" in message, message


def test_float_that_rounds_to_zero_in_float32_is_an_error() -> None:
    assert "rounds to 0" in config_error(None, ["train.lr=1e-50"])


def test_largest_class_sep_still_gives_finite_data() -> None:
    from actbench.data import make_dataset

    data = make_dataset(load_config(None, ["data.class_sep=3.4e38", "data.n_samples=200"]).data)
    assert np.isfinite(data.x_train.numpy()).all() and np.isfinite(data.x_test.numpy()).all()


@pytest.mark.parametrize("device", ["cpu\n", "cuda:0\n", "cpu ", " cpu", "cuda:0x", "CPU"])
def test_device_must_match_in_full(device: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, flags={"train.device": device})
    message = str(info.value)
    assert "choices: auto, cpu, cuda, cuda:N" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "label",
    [
        "a\x1b]0;pwned\x07b",
        "clear\x1b[2J",
        "two\nlines",
        "tab\there",
        "bell\x07",
        "nul\x00",
        "\u2028",
    ],
)
def test_label_must_be_printable_and_the_error_escapes_it(label: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate({"activations": [{"name": "relu", "label": label}]})
    message = str(info.value)
    assert message.startswith("activations[0].label: label '")
    assert "printable" in message
    assert message.isprintable(), repr(message)
    assert "(and" not in message


def test_printable_unicode_label_is_kept() -> None:
    config = validate({"activations": [{"name": "relu", "label": "ReLU α=0.2 | fast"}]})
    assert config.activations[0].label == "ReLU α=0.2 | fast"


def test_a_huge_invalid_value_is_quoted_briefly() -> None:
    message = config_error(None, ["train.epochs=[" + ",".join(["1"] * 50_000) + "]"])
    assert len(message) < 300


# --- sweeps: one rule ----------------------------------------------------------------------------


def sweep_error(*sweeps: str, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides or [], sweeps=sweeps)
    return str(info.value)


@pytest.mark.parametrize("spec", ["train={lr: 0.01}", "data={n_samples: 100}", "metrics={}"])
def test_sweeping_a_whole_section_is_an_error_naming_its_leaf_keys(spec: str) -> None:
    section = spec.partition("=")[0]
    message = sweep_error(spec)
    assert f"sweep key '{section}' is a whole section" in message
    model = SECTIONS[section]
    assert all(f"{section}.{key}" in message for key in model.model_fields), message


def test_sweeping_a_section_in_the_yaml_block_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "sweep:\n  train: [{lr: 0.01}]\n")
    assert "is a whole section" in config_error(path)


def test_sweeping_below_a_leaf_is_an_error() -> None:
    assert "has no sub-keys" in sweep_error("train.lr.x=1,2")


@pytest.mark.parametrize(
    ("spec", "fragments"),
    [
        ("train.lr=0.01,0.01,1e-2", ["'train.lr'", "3 times", "0.01, 0.01 and 1e-2", "0.01"]),
        ("model.hidden=50,[50]", ["'model.hidden'", "twice", "50 and [50]", "[50]"]),
        ("train.epochs=2,3,2.0", ["'train.epochs'", "2 and 2.0"]),
        ("train.lr=1e-3,0.001", ["1e-3 and 0.001"]),
        ("train.optimizer=adam,sgd,adam", ["adam and adam"]),
    ],
)
def test_duplicate_sweep_values_after_validation_are_an_error_naming_them(
    spec: str, fragments: list[str]
) -> None:
    message = sweep_error(spec)
    assert "give each value once" in message
    assert_mentions(message, fragments)


def test_duplicate_values_in_the_yaml_sweep_block_are_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "sweep:\n  model.hidden: [[3, 3], [3, 3]]\n")
    assert "lists one value twice" in config_error(path)


def test_sweep_values_are_the_validated_ones() -> None:
    config = load_config(None, sweeps=["train.lr=1e-2,0.1", "model.hidden=50,[3,3]"])
    assert [point.values for point in grid_points(config)] == [
        {"train.lr": 0.01, "model.hidden": [50]},
        {"train.lr": 0.01, "model.hidden": [3, 3]},
        {"train.lr": 0.1, "model.hidden": [50]},
        {"train.lr": 0.1, "model.hidden": [3, 3]},
    ]


def test_a_sweep_key_given_twice_is_an_error() -> None:
    assert "given twice" in sweep_error("train.lr=0.1", "train.lr=0.2")


def test_grid_above_the_limit_is_refused_with_its_size_quickly() -> None:
    values = ",".join(str(i + 1) for i in range(100))
    started = time.perf_counter()
    message = sweep_error(
        f"train.epochs={values}", f"train.batch_size={values}", f"data.random_state={values}"
    )
    assert time.perf_counter() - started < 2.0
    assert "1,000,000 grid points" in message
    assert f"at most {MAX_GRID_POINTS:,}" in message


def test_grid_at_the_limit_is_accepted() -> None:
    values = ",".join(str(i + 1) for i in range(100))
    config = load_config(None, sweeps=[f"train.epochs={values}", f"train.batch_size={values}"])
    assert grid_size(config.sweep) == MAX_GRID_POINTS


@PROPERTY_SETTINGS
@given(width=st.integers(2, 12), depth=st.integers(2, 30))
def test_any_alias_fan_out_loads_or_is_refused_quickly(
    document_dir: Path, width: int, depth: int
) -> None:
    path = write(document_dir, f"sweep:\n  train.lr: {flow_bomb(width, depth)}\n", "fan.yaml")
    started = time.perf_counter()
    returns_config_or_config_error(path, [])
    assert time.perf_counter() - started < 2.0


# --- train: one activation -----------------------------------------------------------------------


def test_one_activation_is_the_activations_flag() -> None:
    assert one_activation("leaky_relu", {"negative_slope": 0.2}) == {
        "activations": [{"name": "leaky_relu", "params": {"negative_slope": 0.2}}]
    }
    assert one_activation("relu", None) == {"activations": [{"name": "relu", "params": {}}]}
    assert one_activation(None, {}) == {}


def test_params_without_an_activation_are_an_error() -> None:
    with pytest.raises(ConfigError, match="^--param needs --act NAME$"):
        one_activation(None, {"negative_slope": 0.2})


def test_train_needs_exactly_one_activation() -> None:
    config = load_config(None, flags=one_activation("leaky_relu", {"negative_slope": 0.2}))
    assert require_one_activation(config).label == "leaky_relu(negative_slope=0.2)"
    with pytest.raises(ConfigError) as info:
        require_one_activation(load_config(None, ["activations=[relu,tanh]"]))
    assert str(info.value) == (
        "train runs one activation but the config lists 2; "
        "pass --act NAME (or use: actbench compare)"
    )
