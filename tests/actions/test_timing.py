"""The expected time of a task from its timed first step (``TimedProgress``), the time left after each step,
and stopping by raising from the progress callback: on a fake clock, then through the default inversion
(PTI) of a tiny seeded StyleGAN2."""
from __future__ import annotations

import pytest

from factories import tiny_stylegan2
from ganinv.actions import invert
from ganinv.actions.common import EXPECTED_TIME, Phase, TimedProgress, duration
from ganinv.models.loaders import save_safetensors

pytestmark = pytest.mark.usefixtures("one_thread")


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_first_step_times_the_task_and_every_later_report_says_the_time_left():
    clock, seen = Clock(), []
    timed = TimedProgress(lambda f, m: seen.append((f, m)), [Phase("pivot", 10), Phase("tuning", 5, cost=2.0)],
                          every=0, clock=clock)
    pivot, tuning = timed.phase(0), timed.phase(1)
    clock.t += 30                                   # setup (loading, alignment) is not a step
    pivot(0.0, "step 0/10")
    clock.t += 3
    pivot(0.1, "step 1/10")
    # one pivot step of 3 s: 10 x 3 s, and tuning steps estimated at twice that until one is timed
    assert seen[-1][1] == f"{EXPECTED_TIME}: about 1.0 min (pivot: 10 steps of 3 s, tuning: 5 steps of ~6 s)"
    for k in range(2, 11):
        clock.t += 3
        pivot(k / 10, f"step {k}/10")
    assert seen[-1][1] == "pivot: step 10/10 · about 30 s left"
    tuning(0.0, "tuning 0/5")
    clock.t += 10                                   # a tuning step turns out to take 10 s
    tuning(0.2, "tuning 1/5")
    assert seen[-1][1] == "tuning: tuning 1/5 · about 40 s left"
    for k in range(2, 6):
        clock.t += 10
        tuning(k / 5, f"tuning {k}/5")
    assert seen[-1][1] == "tuning: tuning 5/5 · done in 1.3 min"       # 30 s of pivot + 50 s of tuning
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert sum(m.startswith(EXPECTED_TIME) for _, m in seen) == 1


def test_without_a_zero_report_the_first_step_is_timed_from_the_next():
    clock, seen = Clock(), []
    timed = TimedProgress(lambda f, m: seen.append(m), [Phase("fit", 4)], every=0, clock=clock)
    clock.t += 50                                   # setup inside the method, before its first report
    timed.report(0, 0.25, "1/4")
    assert not any(m.startswith(EXPECTED_TIME) for m in seen)
    clock.t += 2
    timed.report(0, 0.5, "2/4")
    assert seen[-1] == f"{EXPECTED_TIME}: about 6 s (fit: 4 steps of 2 s)"


def test_reports_are_thinned_but_the_statement_and_the_end_always_pass():
    clock, seen = Clock(), []
    timed = TimedProgress(lambda f, m: seen.append(m), [Phase("fit", 100)], every=1.0, clock=clock)
    timed.report(0, 0.0, "0")
    for k in range(1, 101):
        clock.t += 0.1
        timed.report(0, k / 100, str(k))
    assert len(seen) < 20
    assert seen[1].startswith(EXPECTED_TIME) and seen[-1].startswith("fit: 100 ")


def test_duration_reads_as_people_say_it():
    assert [duration(s) for s in (0.2, 42, 270, 7200)] == ["1 s", "42 s", "4.5 min", "2.0 h"]


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> str:
    """A tiny seeded StyleGAN2 (16 px) as a local checkpoint; its name for ``model=``."""
    save_safetensors(tiny_stylegan2(varied=True), str(tmp_path / "tiny-timed.safetensors"))
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(tmp_path))
    return "local:tiny-timed.safetensors"


def test_the_default_inversion_states_its_expected_time_before_tuning(tiny, astronaut):
    seen = []
    inv = invert.invert(astronaut, model=tiny, steps=4, tune_steps=3, align="center", identity=False,
                        device="cpu", progress=lambda f, m: seen.append((f, m)))
    assert inv.method == invert.DEFAULT_METHOD == "pti"
    messages = [m for _, m in seen]
    stated = [i for i, m in enumerate(messages) if m.startswith(EXPECTED_TIME)]
    assert len(stated) == 1
    assert "pivot: 4 steps of" in messages[stated[0]] and "tuning: 3 steps of ~" in messages[stated[0]]
    first_tuning = next(i for i, m in enumerate(messages) if m.startswith("tuning:"))
    assert stated[0] < first_tuning
    assert all(m.endswith(" left") for m in messages[stated[0] + 1:-1])
    assert seen[-1][0] == 1.0 and messages[-1].startswith("tuning: pivotal tuning 3/3") and " · done in " in messages[-1]


class Stop(Exception):
    pass


def test_raising_from_progress_stops_the_inversion_at_that_step(tiny, astronaut):
    steps = []

    def progress(f, m):
        steps.append(m)
        if m.startswith(EXPECTED_TIME):
            raise Stop
    with pytest.raises(Stop):
        invert.invert(astronaut, model=tiny, steps=500, tune_steps=500, align="center", identity=False,
                      device="cpu", progress=progress)
    assert steps[-1].startswith(EXPECTED_TIME) and len(steps) < 10


def test_step_defaults_are_fewer_for_a_large_model_on_a_cpu():
    from ganinv.settings import CPU_LARGE_STEPS, CPU_LARGE_TUNE_STEPS, INVERT_STEPS, PTI_STEPS
    assert invert.default_steps(1024, "cpu") == {"steps": CPU_LARGE_STEPS, "tune_steps": CPU_LARGE_TUNE_STEPS}
    assert invert.default_steps(1024, "cuda") == {"steps": INVERT_STEPS, "tune_steps": PTI_STEPS}
    assert invert.default_steps(64, "cpu") == {"steps": INVERT_STEPS, "tune_steps": PTI_STEPS}
    assert invert.model_steps("stylegan2-ffhq-1024", "cpu")["steps"] == CPU_LARGE_STEPS
    assert CPU_LARGE_STEPS < INVERT_STEPS and CPU_LARGE_TUNE_STEPS < PTI_STEPS
