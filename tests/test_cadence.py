"""The one place that decides when: a table of cases, nothing trained."""

import pytest

from stylometry.config.schema import CadenceConfig, StopCriteriaConfig
from stylometry.training.cadence import Cadence, Due, eta_seconds

PAPER = StopCriteriaConfig()  # >= 500 epochs, then stop once the training loss <= 3.0
EPOCHS3 = StopCriteriaConfig(min_epochs=0, max_epochs=3, train_loss_threshold=None)
STEPS12 = StopCriteriaConfig(min_epochs=0, max_epochs=10000, train_loss_threshold=None, max_steps=12)
TIMED = StopCriteriaConfig(min_epochs=0, max_epochs=3, train_loss_threshold=None, max_seconds=60)
EVERY_EPOCH = CadenceConfig()
EVERY_4_STEPS = CadenceConfig(eval_every_steps=4, checkpoint_every_steps=4)
SPARSE = CadenceConfig(eval_every=2, checkpoint_every=3)


def never():
    return False


def always():
    return True


@pytest.mark.parametrize(
    "stop,cadence,step,epoch,ended,loss,clock,expected",
    [
        # Mid-epoch, per-epoch cadence: nothing is due, and the clock is not read (no step checkpoints).
        (EPOCHS3, EVERY_EPOCH, 5, 1, False, None, always, Due()),
        # The end of an epoch, per-epoch cadence: evaluate and checkpoint.
        (EPOCHS3, EVERY_EPOCH, 8, 1, True, 9.0, never, Due(evaluate=True, checkpoint=True)),
        # The last epoch: evaluate, checkpoint and stop, whatever the cadence.
        (EPOCHS3, SPARSE, 24, 3, True, 9.0, never, Due(evaluate=True, checkpoint=True, stop=True)),
        (EPOCHS3, SPARSE, 8, 1, True, 9.0, never, Due()),
        (EPOCHS3, SPARSE, 16, 2, True, 9.0, never, Due(evaluate=True)),
        # The study: the loss threshold counts only from min_epochs on.
        (PAPER, EVERY_EPOCH, 800, 100, True, 2.5, never, Due(evaluate=True, checkpoint=True)),
        (PAPER, EVERY_EPOCH, 4000, 500, True, 2.99, never, Due(evaluate=True, checkpoint=True, stop=True)),
        (PAPER, EVERY_EPOCH, 4000, 500, True, 3.01, never, Due(evaluate=True, checkpoint=True)),
        # Step cadence: mid-epoch evaluations and checkpoints every 4 steps.
        (STEPS12, EVERY_4_STEPS, 4, 1, False, None, never, Due(evaluate=True, checkpoint=True)),
        (STEPS12, EVERY_4_STEPS, 5, 1, False, None, never, Due()),
        (STEPS12, EVERY_4_STEPS, 12, 2, True, 9.0, never, Due(evaluate=True, checkpoint=True, stop=True)),
        # The wall-clock limit: mid-epoch only where a step checkpoint can keep the position; at an epoch's end always.
        (TIMED, EVERY_4_STEPS, 6, 1, False, None, always, Due(checkpoint=True, pause=True)),
        (TIMED, EVERY_EPOCH, 6, 1, False, None, always, Due()),
        (TIMED, EVERY_EPOCH, 8, 1, True, 9.0, always, Due(evaluate=True, checkpoint=True, pause=True)),
        (
            TIMED,
            EVERY_EPOCH,
            24,
            3,
            True,
            9.0,
            always,
            Due(evaluate=True, checkpoint=True, stop=True),
        ),  # last: no pause
    ],
)
def test_what_is_due_after_a_step(stop, cadence, step, epoch, ended, loss, clock, expected):
    schedule = Cadence(stop, cadence, log_every_steps=10**6)  # logging has its own test below
    assert schedule.after_step(step, epoch, ended, loss, clock) == expected


def test_the_clock_is_read_only_where_it_can_matter():
    asked = []
    Cadence(TIMED, EVERY_EPOCH, 10).after_step(3, 1, False, None, lambda: asked.append(1) or True)
    assert asked == []  # mid-epoch without step checkpoints: no collective call in a data-parallel job


@pytest.mark.parametrize("step,expected", [(9, False), (10, True), (20, True), (21, False)])
def test_training_scalars_every_n_steps(step, expected):
    schedule = Cadence(EPOCHS3, EVERY_EPOCH, log_every_steps=10)
    assert schedule.logs(step) is expected and schedule.after_step(step, 1, False, None, never).log is expected


@pytest.mark.parametrize(
    "step,batches_done,num_batches,expected", [(3, 6, 8, False), (4, 8, 8, True), (12, 2, 8, True)]
)
def test_an_epoch_ends_with_its_batches_or_at_max_steps(step, batches_done, num_batches, expected):
    assert Cadence(STEPS12, EVERY_4_STEPS, 10).epoch_ends(step, batches_done, num_batches) is expected


def test_a_new_run_evaluates_the_untrained_model_unless_told_not_to():
    assert Cadence(EPOCHS3, EVERY_EPOCH, 10).at_start() == Due(evaluate=True, checkpoint=True)
    assert Cadence(EPOCHS3, CadenceConfig(eval_at_start=False), 10).at_start() == Due(checkpoint=True)


def test_a_resumed_run_may_have_nothing_left():
    assert Cadence(EPOCHS3, EVERY_EPOCH, 10).done(3, 9.0, 24)
    assert not Cadence(EPOCHS3, EVERY_EPOCH, 10).done(2, 9.0, 16)


@pytest.mark.parametrize(
    "stop,epoch,step,seconds,expected",
    [
        (EPOCHS3, 1, 8, 10.0, 20.0),  # two epochs left at 10 s each
        (PAPER, 100, 800, 100.0, 400.0),  # until min_epochs, the only bound known in advance
        (STEPS12, 1, 4, 8.0, 16.0),  # eight steps left at 2 s each
    ],
)
def test_eta(stop, epoch, step, seconds, expected):
    assert eta_seconds(stop, epoch, step, seconds) == pytest.approx(expected)
