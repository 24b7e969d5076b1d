"""A tiny run shared by the discovery tests: 12×12 lambda-omega, 200 snapshots, 4×4 steps."""

from eae_sindy.config import CollectionConfig, config_from_dict, preset
from simulators.lambda_omega import generate_dataset

# the tiny run's settings as a config file would give them, overlaid on the quick preset
# (the learning rate is the default, 1e-3, not the quick preset's)
_TINY_SETTINGS = {
    "data": {"n": 12, "n_snapshots": 200, "dt": 0.1, "n_train": 150, "n_val": 20},
    "model": {"encoder_widths": [8], "decoder_widths": [8]},
    "train": {
        "batch_size": 32, "inner_steps": 4, "outer_iterations": 4, "learning_rate": 1e-3,
        "n_samples": 6, "thin": 1, "chunk_size": 3, "checkpoint_every": 1, "n_eval": 12,
        "n_examples": 2,
    },
}
TINY = config_from_dict(_TINY_SETTINGS, preset("quick"), source="tests/tiny.py").replace(
    collection=CollectionConfig(),  # collected as trained: one program less to compile
)
TINY = TINY.replace(sampler=TINY.sampler.replace(max_omega_dt=None))
"""Without the step control (its Hessian-vector programs and the bias guard it enables cost
~20 s of compiling per fit): the tests of the default path use :data:`TINY_CONTROLLED`."""
TINY_CONTROLLED = TINY.replace(sampler=TINY.sampler.replace(max_omega_dt=0.5))


def write_tiny_data(path):
    """Simulate the tiny data set into ``path``; returns it as a string."""
    generate_dataset(path, **TINY.data.simulation(), seed=TINY.seed, progress=False)
    return str(path)


def interrupting(run_training, after_iteration: int = 1):
    """``run_training`` (or ``run_ladder_training``, whose ``on_iteration`` gets one row per
    rung) that raises KeyboardInterrupt, as Ctrl-C would, once outer iteration
    ``after_iteration`` has been logged."""

    def run(eae, state, **kwargs):
        inner = kwargs.pop("on_iteration")

        def on_iteration(row):
            inner(row)
            first = row[0] if isinstance(row, list) else row
            if first["iteration"] == after_iteration:
                raise KeyboardInterrupt

        return run_training(eae, state, on_iteration=on_iteration, **kwargs)

    return run
