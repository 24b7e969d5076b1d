"""Names and versions of the ``discover`` run-directory contract (docs/run_directory.md), in a
module with no heavy imports so that both the writer (``eae_sindy.discover``) and the reader
(``analysis.rundir``) take them from one place."""

__all__ = ["METRICS_COLUMNS", "ENSEMBLE_SCHEMA_VERSION"]

METRICS_COLUMNS = (
    "iteration",
    "loss_mean",
    "loss_std",
    "loss_min",
    "loss_max",
    "loss_after_update",
    "kinetic_temperature",
    "decoder_grad_norm",
    "diverged",
    "elapsed_s",
)
ENSEMBLE_SCHEMA_VERSION = 1
