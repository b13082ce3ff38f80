"""vae_course.playground without a browser: the training driver, the threads, the figure, the refusals.

The driver's promises are checked against independent routes: an uninterrupted run for pause and
resume (the same operations in the same order must give the same bits), the course's own way of building
a VAE (`torch.manual_seed(seed); VAE(...)`) for the initial weights, torch.distributions for the KL that
is recorded, `LinearWarmup`'s formula written out for the schedule. tests/test_browser_playground.py
drives the widget in JupyterLab.
"""

import os
import subprocess
import sys
import threading
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.distributions import Normal, kl_divergence  # noqa: E402

from vae_course import playground as pg  # noqa: E402
from vae_course.data import load_mnist  # noqa: E402
from vae_course.vae import VAE  # noqa: E402

N_TRAIN = 600  # 5 steps of 128 per epoch: small enough for many runs, real digits all the same


@pytest.fixture(scope="module")
def digits():
    data = load_mnist("offline")
    return data.x_train[:N_TRAIN], data.x_test[:200], data.y_test[:200]


@pytest.fixture(autouse=True)
def no_thread_left():
    """Every test ends with no playground thread running and no figure open."""
    yield
    plt.close("all")
    left = playground_threads()
    for playground in list(pg.Playground._instances):
        playground.close()
    assert not left, "a playground thread outlived its test"


def playground_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == pg.THREAD_NAME and t.is_alive()]


class StopAfter:
    """A stop signal that turns on after `steps` training steps: a pause at an exact place."""

    def __init__(self, steps: int):
        self.left = steps

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    # The same operations in the same order on the same inputs: the bits must agree, not just the values.
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"weights differ in {different}"


def assert_same_optimizer(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> None:
    for (pa, sa), (pb, sb) in zip(a.state.items(), b.state.items()):
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"optimizer state {key} differs"


# ----------------------------------------------------------------------------------------------
# The driver: pause and resume, reset, settings


@pytest.mark.parametrize("pauses", [[1], [5], [4, 1], [3, 4, 2], [7, 0, 1, 6]], ids=[
    "after-1-step", "at-an-epoch-end", "after-4-then-1", "three-pauses", "pause-twice-in-a-row"])
def test_pausing_anywhere_and_resuming_gives_the_weights_of_an_uninterrupted_run(digits, pauses):
    reference = pg.TrainingRun(*digits, latent_dim=3)
    assert reference.train(3) == "done"
    run = pg.TrainingRun(*digits, latent_dim=3)
    for steps in pauses:
        assert run.train(3, stop=StopAfter(steps)) == "stopped"
    assert run.train(3) == "done"
    assert run.epoch == reference.epoch == 3
    assert_same_weights(weights(run.model), weights(reference.model))
    assert_same_optimizer(run.optimizer, reference.optimizer)
    assert run.history.train == reference.history.train and run.history.val == reference.history.val


def test_a_pause_keeps_the_place_in_the_epoch(digits):
    run = pg.TrainingRun(*digits)
    assert run.steps_per_epoch == 5
    run.train(2, stop=StopAfter(7))  # 5 steps of epoch 1, then 2 of epoch 2
    assert (run.epoch, run.step) == (1, 2)
    assert len(run.history.train["total"]) == 1 and len(run.betas) == 2


def test_the_widget_thread_paused_at_random_moments_gives_the_weights_of_an_uninterrupted_run(digits):
    reference = pg.TrainingRun(*digits, latent_dim=2, beta=0.5)
    reference.train(6)
    playground = pg.Playground(*digits, latent_dim=2, beta=0.5, epochs=6)
    pauses = 0
    while playground.run.epoch < 6:
        playground.train()
        time.sleep(0.02 + 0.1 * pauses)
        playground.pause()
        assert not playground_threads()
        pauses += 1
    assert pauses >= 2, "the run ended before it could be paused: the test proved nothing"
    assert_same_weights(weights(playground.run.model), weights(reference.model))


def test_the_initial_weights_are_those_of_a_vae_built_after_seeding(digits):
    """The course builds a model as `torch.manual_seed(seed); VAE(...)`: the run's initial weights are those."""
    run = pg.TrainingRun(*digits, latent_dim=5, generator=7)
    torch.manual_seed(7)
    expected = VAE(digits[0].shape[1], 200, 5)
    assert_same_weights(weights(run.model), weights(expected))


def test_reset_restores_the_initial_weights_and_rewinds_the_random_streams(digits):
    run = pg.TrainingRun(*digits, latent_dim=2, generator=3)
    initial = weights(run.model)
    run.train(2)
    first = weights(run.model)
    assert not torch.equal(first["encoder.to_mu.weight"], initial["encoder.to_mu.weight"])
    run.reset()
    assert_same_weights(weights(run.model), initial)
    assert (run.epoch, run.step, run.history.epochs, run.betas, run.events) == (0, 0, 0, [], [])
    assert not run.optimizer.state, "reset must start a fresh optimizer"
    run.train(2)
    assert_same_weights(weights(run.model), first)


def test_training_leaves_the_global_random_generator_alone(digits):
    """The notebook may draw random numbers while the run trains in the background: the run uses its own."""
    state = torch.get_rng_state()
    run = pg.TrainingRun(*digits)
    run.train(1)
    run.snapshot()
    assert torch.equal(torch.get_rng_state(), state)


def test_settings_apply_from_the_next_epoch_and_are_logged(digits):
    run = pg.TrainingRun(*digits, beta=1.0)
    run.train(1, stop=StopAfter(2))
    run.set(beta=4.0, lr=3e-3)  # mid-epoch: epoch 1 goes on with the old settings
    run.train(3)
    assert run.betas == [1.0, 4.0, 4.0]
    assert run.events == [(2, "β 1 → 4, learning rate 0.001 → 0.003")]
    assert all(group["lr"] == 3e-3 for group in run.optimizer.param_groups)


def test_the_kl_warm_up_follows_its_formula(digits):
    run = pg.TrainingRun(*digits, beta=2.0, warmup_epochs=4)
    run.train(6)
    # beta(epoch) = beta_max * min(1, (epoch - 1) / warmup_epochs), written out
    assert run.betas == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0], abs=1e-12)


def test_the_recorded_test_kl_is_the_closed_form_kl_of_the_encoder(digits):
    """Checked with torch.distributions on the encoder's outputs for the same test digits."""
    run = pg.TrainingRun(*digits, latent_dim=4)
    run.train(2)
    with torch.no_grad():
        mu, logvar = run.model.encode(run.x_eval)
        kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1).mean()
    assert run.history.val["kl"][-1] == pytest.approx(float(kl), rel=1e-5)
    snapshot = run.snapshot()
    assert snapshot.kl_dims.sum() == pytest.approx(float(kl), rel=1e-5)
    # the two dimensions shown are those with the largest share of the KL
    assert set(snapshot.dims) == set(torch.topk(torch.as_tensor(snapshot.kl_dims), 2).indices.tolist())


def test_a_large_beta_drives_the_kl_toward_zero(digits):
    """What the browser test watches: beta = 50 after four epochs at 1 leaves almost no KL (posterior collapse).

    Over seeds 0-7 the KL after four epochs at beta = 1 was 14 to 28 nats, and four epochs at beta = 50
    brought it to 0.024-0.052 nats: the bounds below leave a factor of 3 or more on either side.
    """
    run = pg.TrainingRun(*digits, latent_dim=2)
    run.train(4)
    before = run.history.val["kl"][-1]
    run.set(beta=50.0)
    run.train(8)
    after = run.history.val["kl"][-1]
    assert before > 5.0 and after < 0.2, (before, after)


def test_the_bernoulli_run_scores_fixed_binary_digits_and_the_grey_run_grey_ones(digits):
    bernoulli, grey = pg.TrainingRun(*digits), pg.TrainingRun(*digits, likelihood="grey")
    assert set(bernoulli.x_eval.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(grey.x_eval, digits[1])
    assert torch.equal(pg.TrainingRun(*digits).x_eval, bernoulli.x_eval), "the binary test digits must be fixed"


def test_a_diverging_run_stops_with_the_last_finite_weights(digits):
    run = pg.TrainingRun(*digits, lr=1e4)
    initial = weights(run.model)
    assert run.train(3) == "diverged"
    assert run.diverged == 1 and run.history.epochs == 0
    assert_same_weights(weights(run.model), initial)
    assert run.train(3) == "diverged", "a diverged run must be reset before it trains again"


# ----------------------------------------------------------------------------------------------
# The figure


def test_the_example_run_draws_its_final_state(digits):
    fig = pg.plot_example_run(*digits, epochs=2, latent_dim=3)
    assert fig.get_suptitle().startswith("a finished run: 2 epochs, β = 1, latent size 3, binarized digits")
    titles = [ax.get_title() for ax in fig.axes]
    assert any("KL(q(z | x) || p(z))" in t for t in titles)
    assert any("the 2 of 3 dims with most KL" in t for t in titles)
    assert any(t.startswith("active units:") for t in titles)


def test_render_png_draws_without_pyplot(digits):
    run = pg.TrainingRun(*digits)
    run.train(1)
    before = plt.get_fignums()
    png = pg.render_png(run.snapshot())
    assert png.startswith(b"\x89PNG") and plt.get_fignums() == before


# ----------------------------------------------------------------------------------------------
# The widget: threads, controls, display


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("stop", ["pause", "reset", "close"])
def test_pause_reset_and_close_leave_no_thread(digits, stop):
    playground = pg.Playground(*digits, epochs=200)
    playground.train()
    assert [t.daemon for t in playground_threads()] == [True]
    wait_until(lambda: playground.run.epoch >= 1)
    getattr(playground, stop)()
    assert not playground_threads() and not playground.training
    if stop == "reset":
        assert playground.run.epoch == 0 and "reset" in playground.readout.value


def test_a_run_that_reaches_its_last_epoch_ends_its_thread(digits):
    playground = pg.Playground(*digits, epochs=2)
    playground.train()
    wait_until(lambda: not playground.training)
    assert playground.run.epoch == 2 and not playground_threads()
    assert "done: 2 epochs" in playground.readout.value and "epoch <b>2</b>" in playground.readout.value
    assert playground.buttons["pause"].disabled and not playground.buttons["train"].disabled


def test_train_in_one_playground_pauses_another(digits):
    first, second = pg.Playground(*digits, epochs=200), pg.Playground(*digits, epochs=200)
    first.train()
    second.train()
    assert not first.training and second.training and len(playground_threads()) == 1
    second.pause()


def test_controls_change_the_run_and_say_so(digits):
    playground = pg.Playground(*digits)
    playground.controls["beta"].value = 4.0
    assert playground.run.beta == 4.0 and "β 1 → 4" in playground.readout.value
    playground.controls["warmup"].value = True
    assert playground.run.warmup_epochs == pg.WARMUP_EPOCHS and "warm-up on" in playground.readout.value
    playground.controls["lr"].value = 1e-2
    assert playground.run.lr == pytest.approx(1e-2)
    image = playground.image.value
    playground.controls["latent_dim"].value = 10
    assert playground.run.latent_dim == 10 and playground.run.beta == 4.0 and playground.run.lr == pytest.approx(1e-2)
    assert "a new model" in playground.readout.value and playground.image.value != image
    playground.controls["likelihood"].value = "grey"
    assert playground.run.likelihood == "grey" and "test −(BCE + KL)" in playground.readout.value


def test_the_widget_shows_a_sentence_where_widgets_do_not_run(digits):
    bundle = pg.Playground(*digits)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "VAE playground (a live widget: run the notebook in JupyterLab to train it)"


def test_a_process_that_exits_while_a_run_trains_stops_the_run_first(tmp_path):
    """A kernel that is shut down or restarted exits Python: the run is paused before, not cut mid-step."""
    script = tmp_path / "exit_while_training.py"
    script.write_text(
        "import atexit, threading, time\n"
        # registered first, so it runs last: after the playground's own exit hook
        "atexit.register(lambda: print('left:', [t.name for t in threading.enumerate()\n"
        "                                        if t.name == 'vae-playground']))\n"
        "from vae_course.data import load_mnist\nfrom vae_course.playground import Playground\n"
        "d = load_mnist('offline')\n"
        "p = Playground(d.x_train[:600], d.x_test[:200], d.y_test[:200], epochs=200)\np.train()\n"
        "while p.run.epoch < 1: time.sleep(0.05)\n"
        "print('training:', p.training)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                            env=kernel_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["training: True", "left: []"], result.stdout + result.stderr


def kernel_env() -> dict:
    """The environment with this checkout first on PYTHONPATH (for a kernel or a process started here)."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])))


def test_the_kernels_interrupt_button_pauses_the_run(digits, tmp_path):
    """In a real ipykernel: SIGINT while no cell runs (the Interrupt button) pauses the run; its thread ends."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", env=kernel_env(), cwd=str(tmp_path))

    def run(code: str) -> str:
        reply = client.execute_interactive(code, timeout=300, output_hook=lambda msg: texts.append(
            msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""))
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(texts)

    try:
        texts: list[str] = []
        run("import threading, time\nfrom vae_course.data import load_mnist\n"
            "from vae_course.playground import Playground\nd = load_mnist('offline')\n"
            "p = Playground(d.x_train[:600], d.x_test[:200], d.y_test[:200], epochs=200)\np.train()")
        texts = []
        assert run("while p.run.epoch < 1: time.sleep(0.05)\nprint(p.training)").strip() == "True"
        manager.interrupt_kernel()  # the kernel is idle: ipykernel itself ignores SIGINT now
        texts = []
        out = run("for _ in range(600):\n    if not p.training: break\n    time.sleep(0.1)\n"
                  "print(p.training, [t.name for t in threading.enumerate() if t.name == 'vae-playground'])\n"
                  "print(p.readout.value)")
        assert out.startswith("False []"), out
        assert "kernel interrupted: paused at" in out
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


# ----------------------------------------------------------------------------------------------
# Bad input is refused, naming the argument


@pytest.mark.parametrize("kwargs, error, message", [
    ({"likelihood": "gaussian"}, ValueError, "likelihood must be one of 'bernoulli', 'grey'"),
    ({"latent_dim": 0}, ValueError, "latent_dim must be a positive integer"),
    ({"latent_dim": 2.0}, TypeError, "latent_dim must be a positive integer"),
    ({"beta": -1.0}, ValueError, "beta must be >= 0"),
    ({"lr": 0.0}, ValueError, "lr must be > 0"),
    ({"warmup_epochs": -1}, ValueError, "warmup_epochs must be a positive integer"),
    ({"warmup_epochs": True}, TypeError, "warmup_epochs must be a positive integer"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
    ({"hidden_dim": None}, TypeError, "hidden_dim must be a positive integer"),
    ({"generator": "zero"}, TypeError, "generator must be a torch.Generator, an int seed"),
    ({"generator": None}, TypeError, "generator must be a torch.Generator or an int seed"),
    ({"device": "gpu0"}, ValueError, "device must be a torch.device or a name"),
    ({"device": 1.5}, TypeError, "device must be a torch.device or a name"),
])
def test_bad_settings_are_refused_by_name(digits, kwargs, error, message):
    with pytest.raises(error, match=message):
        pg.TrainingRun(*digits, **kwargs)


def test_bad_data_is_refused_by_name(digits):
    x_train, x_test, y_test = digits
    with pytest.raises(ValueError, match="x_train must hold pixel values in"):
        pg.TrainingRun(x_train * 255, x_test, y_test)
    with pytest.raises(ValueError, match="x_test must have 784 pixels per image"):
        pg.TrainingRun(x_train, x_test[:, :100], y_test)
    with pytest.raises(ValueError, match="y_test must have one label per row"):
        pg.TrainingRun(x_train, x_test, y_test[:10])


def test_bad_arguments_to_train_set_and_the_figure_are_refused_by_name(digits):
    run = pg.TrainingRun(*digits)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        run.train(0)
    with pytest.raises(TypeError, match="stop must have an is_set"):
        run.train(1, stop=True)
    with pytest.raises(TypeError, match="on_epoch must be a function"):
        run.train(1, on_epoch=3)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        run.set(beta=-0.5)
    with pytest.raises(ValueError, match="lr must be > 0"):
        run.set(lr=-1e-3)
    with pytest.raises(TypeError, match="snapshot must be a Snapshot"):
        pg.plot_playground({"epoch": 1})
    with pytest.raises(ValueError, match="dpi must be a positive integer"):
        pg.render_png(run.snapshot(), dpi=0)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"beta": 1000.0}, ValueError, "beta must be >= 0.01 and <= 100"),
    ({"lr": 1.0}, ValueError, "lr must be >= 0.0001 and <= 0.01"),
    ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
    ({"warmup": "yes"}, TypeError, "warmup must be True or False"),
])
def test_the_widget_refuses_settings_its_controls_cannot_show(digits, kwargs, error, message):
    with pytest.raises(error, match=message):
        pg.Playground(*digits, **kwargs)
