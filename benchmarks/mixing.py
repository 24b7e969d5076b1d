"""Mixing of frame-free quantities at the right measure: sampler variants at equal wall time.

Reads a ``discover`` run directory (data, config, the checkpoint at the end of training) and, from
that one trained state, collects with several sampler variants for about the same wall time each.
For every variant it reports:

- steps/s (sampling steps of all chains together, per second, compile excluded);
- for the frame-free per-draw targets (the members' test loss, x and ẋ relative MSE, and the
  trace and determinant of the linear part of Ξ at z = 0, J = Ξ[x_j] + Ξ[sin x_j], which do not
  depend on the latent frame's rotation or reflection): the largest R-hat and the smallest
  bulk- and tail-ESS (ArviZ, ``analysis.diagnostics.diagnose``), and τ = draws·thin·chains /
  bulk-ESS in sampling steps (of one chain) for the slowest target;
- the members' mean loss against the configured sampler and against a small-step reference
  (dt/4, re-draws at the same physical interval, same chains and start), with standard errors;
- the bias guard (``eae_sindy.bias_guard``): T_conf/T along each chain's 4 stiffest directions
  of the loss (found once at the trained state by subspace iteration on the loss of four fixed
  minibatches, ``eae_sindy.stiffness``), with the loss that defines the measure being the FULL
  training-set loss at the fixed decoder, evaluated at snapshots of the chains taken every
  ``chunk_steps`` (10–20) steps, at most ``--guard-draws`` per chain.

The first ``--burn`` fraction of every variant's draws is discarded (a variant may override it).
Variant names: see :func:`variants`. The ``*-full`` variants use the whole training set, in
order, at every step (:func:`whole_training_set`): the exact gradient, no minibatch noise.

    python benchmarks/mixing.py RUN_DIR [--seconds 50] [--variants a,b,...] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from trained_run import load_trained

from analysis.diagnostics import diagnose
from eae_sindy.bias_guard import (
    ConfigurationalTemperature,
    directional_curvatures,
    guard,
    mean_loss_agreement,
    temperature_ratio,
)
from eae_sindy.simmering import simmering
from eae_sindy.sindy_eae import build_sindy_eae
from eae_sindy.stiffness import stiff_subspace

TARGETS = ("loss", "x_relative_mse", "dx_relative_mse", "trace J", "det J")
FULL = -1  # batch: the whole training set, in order


@contextlib.contextmanager
def whole_training_set(n_train: int):
    """While tracing: ``jax.random.randint(key, (n_train,), 0, n_train)``, the minibatch index of
    ``build_sindy_eae``'s ``sample_batch`` at batch size n_train, returns 0..n_train−1, so
    that every step uses the exact full-training-set gradient (only that call is changed)."""
    original = jax.random.randint

    def randint(key, shape, minval, maxval, *args, **kwargs):
        if tuple(shape) == (n_train,) and maxval == n_train and minval == 0:
            return jnp.arange(n_train, dtype=jnp.int32)
        return original(key, shape, minval, maxval, *args, **kwargs)

    jax.random.randint = randint
    try:
        yield
    finally:
        jax.random.randint = original


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    sampler: dict  # overrides of the configured SamplerConfig fields (step_size as a factor)
    batch: int | None = None  # None: configured
    thin: int = 10
    step_factor: float = 1.0
    chunk_steps: int = 20  # steps per compiled call; a guard snapshot after each
    burn: float | None = None  # None: --burn
    seconds_factor: float = 1.0  # × --seconds


def variants(sc) -> dict[str, Variant]:
    dt = sc.step_size
    out = [
        Variant("configured", {}, thin=2),
        Variant("configured-thin10", {}, thin=10),
        Variant("reference-dt/4", {"resample_every": 4 * (sc.resample_every or 0) or None},
                step_factor=0.25),
        Variant("nhc-redraw5-b256", {}, batch=256),
        Variant("nhc-redraw25", {"resample_every": 25}),
        Variant("nhc-redraw100", {"resample_every": 100}),
        Variant("nhc-redraw100-b256", {"resample_every": 100}, batch=256),
        Variant("nhc-noredraw", {"resample_every": None}),
        Variant("langevin-1e-3", {"thermostat": "langevin", "friction": 1e-3 / dt,
                                  "resample_every": None}),
        Variant("langevin-3e-3", {"thermostat": "langevin", "friction": 3e-3 / dt,
                                  "resample_every": None}),
        Variant("langevin-1e-2", {"thermostat": "langevin", "friction": 1e-2 / dt,
                                  "resample_every": None}),
        # the whole training set, in order, every step: no minibatch noise (22× the cost of a
        # batch-64 step); strong friction so that it cools from the trained state in ~10 steps
        Variant("langevin-1e-1-full", {"thermostat": "langevin", "friction": 1e-1 / dt,
                                       "resample_every": None}, batch=FULL, thin=5,
                chunk_steps=10, burn=0.4, seconds_factor=3.0),
        Variant("langevin-3e-2-full", {"thermostat": "langevin", "friction": 3e-2 / dt,
                                       "resample_every": None}, batch=FULL, thin=5,
                chunk_steps=10, burn=0.4, seconds_factor=3.0),
        # twice the step (ω·dt ≈ 1.2 along the stiffest directions; BAOAB's configurational
        # sampling is exact for a harmonic mode at any stable step), same γ
        Variant("langevin-1e-1-full-2dt", {"thermostat": "langevin", "friction": 1e-1 / dt,
                                           "resample_every": None}, batch=FULL, thin=5,
                step_factor=2.0, chunk_steps=10, burn=0.4, seconds_factor=3.0),
        Variant("langevin-3e-3-b256", {"thermostat": "langevin", "friction": 3e-3 / dt,
                                       "resample_every": None}, batch=256),
    ]
    return {v.name: v for v in out}


def linear_jacobian(xi: np.ndarray, names: list[str], latent_dim: int = 2) -> np.ndarray:
    """(..., d, d) J_ij = ∂ż_i/∂z_j at z = 0 from Ξ (..., terms, d): the linear terms x_j and the
    sin(1 x_j) terms both contribute (sin'(0) = 1)."""
    jac = np.zeros(xi.shape[:-2] + (latent_dim, latent_dim))
    for j in range(latent_dim):
        for name in (f"x{j}", f"sin(1 x{j})"):
            if name in names:
                jac[..., :, j] += xi[..., names.index(name), :]
    return jac


def term_names(library) -> list[str]:
    return list(library.names)


def stiff_directions(built, state, the_plan, config, rank: int):
    """Per chain: the ``rank`` stiffest directions (pytree with leading axis rank) of the loss on
    four fixed training minibatches (as ``discover`` finds them), and their curvatures."""
    tc = config.train
    key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x57)
    key_batches, key_start = jax.random.split(key)
    index = jax.random.randint(key_batches, (4, tc.batch_size), 0, len(the_plan.split["train"]))
    batches = [{n: a[i] for n, a in built.data["train"].items()} for i in index]

    def one(enc, decoder, batches, key):
        def loss(p):
            return sum(built.loss_fn(p, decoder, b) for b in batches) / len(batches)

        return stiff_subspace(loss, enc, rank, key, iterations=12)

    one = jax.jit(one)
    keys = jax.random.split(key_start, tc.num_chains)
    found = []
    for c in range(tc.num_chains):
        enc = jax.tree.map(lambda a, c=c: a[c], state.sampler.position)
        found.append(one(enc, state.decoder, batches, keys[c]))
    return found


def collect(variant: Variant, base_built, state, config, x, dx, the_plan, seconds: float):
    """Collect for about ``seconds`` (compile excluded). Returns the per-draw summaries, the
    chain positions every ``variant.chunk_steps`` steps, steps/s and the measured seconds."""
    sc, tc = config.sampler, config.train
    fields = {**dataclasses.asdict(sc), **variant.sampler}
    fields["step_size"] = sc.step_size * variant.step_factor
    sampler = simmering(**fields)
    run_config = config
    n_train = len(the_plan.split["train"])
    batch = n_train if variant.batch == FULL else variant.batch
    if batch is not None:
        run_config = config.replace(train=tc.replace(batch_size=batch))
    built = build_sindy_eae(x, dx, *the_plan, run_config, sampler=sampler,
                                 data=base_built.data)
    chunk = max(1, variant.chunk_steps // variant.thin)
    started = time.perf_counter()
    tracing = whole_training_set(n_train) if variant.batch == FULL else contextlib.nullcontext()
    with tracing:
        compiled = (
            jax.jit(built.eae.collect, static_argnums=(1, 2))
            .lower(state, chunk, variant.thin, built.data)
            .compile()
        )
    compile_s = time.perf_counter() - started

    def program(state, *_):
        return compiled(state, built.data)

    keep = ("loss", "x_relative_mse", "dx_relative_mse", "xi")
    parts, snapshots = [], []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        state, out = program(state, chunk, variant.thin, built.data)
        parts.append({k: np.asarray(out[k]) for k in keep})
        snapshots.append(jax.device_get(state.sampler.position))
    elapsed = time.perf_counter() - started
    diverged = bool(np.any(np.asarray(state.sampler.diverged)))
    draws = {k: np.concatenate([p[k] for p in parts]) for k in keep}
    steps = len(parts) * chunk * variant.thin * tc.num_chains
    return draws, snapshots, steps / elapsed, elapsed, compile_s, diverged


def chain_major(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(draws, chains, ...) → ((chains·draws, ...), chain ids)."""
    by_chain = np.swapaxes(values, 0, 1)
    chain = np.repeat(np.arange(by_chain.shape[0]), by_chain.shape[1])
    return by_chain.reshape(-1, *values.shape[2:]), chain


def targets(draws: dict, names: list[str], burn: float) -> tuple[np.ndarray, int]:
    """(draws kept, chains, 5) frame-free targets, and the burn-in cut."""
    n = draws["loss"].shape[0]
    cut = int(burn * n)
    # Ξ is (terms, equations): ż_i = Σ_k Θ_k Ξ[k, i], so J[i, j] = Ξ[x_j, i] + Ξ[sin x_j, i]
    jac = linear_jacobian(draws["xi"][cut:], names)  # (draws, chains, d, d)
    trace = np.trace(jac, axis1=-2, axis2=-1)
    det = np.linalg.det(jac)
    stacked = np.stack(
        [draws["loss"][cut:], draws["x_relative_mse"][cut:], draws["dx_relative_mse"][cut:],
         trace, det], axis=-1)
    return stacked, cut


class GuardData:
    """The full-training-set loss, its per-chain gradient projections and curvatures."""

    def __init__(self, built, state, directions):
        self.decoder = state.decoder
        self.train = built.data["train"]
        first = jax.tree.map(lambda a: a[0], state.sampler.position)
        _, self.unravel = ravel_pytree(first)
        rows = []
        for found in directions:
            k = jax.tree.leaves(found.basis)[0].shape[0]
            r = jnp.stack([ravel_pytree(jax.tree.map(lambda a, i=i: a[i], found.basis))[0]
                           for i in range(k)])
            rows.append(r / jnp.linalg.norm(r, axis=1, keepdims=True))
        self.rows = jnp.stack(rows)  # (chains, k, N)
        self.bases = [found.basis for found in directions]
        loss_fn = built.loss_fn

        def projections(positions, rows, decoder, train):
            grads = jax.vmap(jax.grad(loss_fn), (0, None, None))(positions, decoder, train)
            flat = jax.vmap(lambda g: ravel_pytree(g)[0])(grads)
            return jnp.einsum("ckn,cn->ck", rows, flat)

        self.projections = jax.jit(projections)

        def curvatures(positions, basis, decoder, train):
            return directional_curvatures(lambda p: loss_fn(p, decoder, train), positions, basis)

        self.curvatures = jax.jit(curvatures)

    def ratio(self, snapshots, temperature, burn: float, max_draws: int, curvature_draws: int):
        cut = int(burn * len(snapshots))
        kept = snapshots[cut:]
        pick = np.unique(np.linspace(0, len(kept) - 1, min(max_draws, len(kept))).astype(int))
        g = np.stack([np.asarray(self.projections(kept[i], self.rows, self.decoder, self.train))
                      for i in pick])  # (draws, chains, k)
        c = g.shape[1]
        curv_pick = pick[np.unique(np.linspace(0, len(pick) - 1, curvature_draws).astype(int))]
        hs = []
        for chain in range(c):
            positions = jax.tree.map(lambda *a, ch=chain: np.stack([x[ch] for x in a]),
                                     *[kept[i] for i in curv_pick])
            _, h = self.curvatures(positions, self.bases[chain], self.decoder, self.train)
            hs.append(np.asarray(h))
        grads, gchain = chain_major(g)
        h = np.stack(hs)  # (chains, draws', k)
        hchain = np.repeat(np.arange(c), h.shape[1])
        conf = temperature_ratio(grads, h.reshape(-1, h.shape[-1]), temperature, gchain, hchain)
        return conf, g, h


def temperature_mean(curvatures: np.ndarray, temperature: float) -> float:
    """T·mean curvature: the mean square of u·∇L at the right measure."""
    return float(temperature * np.mean(curvatures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--seconds", type=float, default=50.0, help="collection wall time each")
    parser.add_argument("--variants", default="configured,reference-dt/4,nhc-redraw5-b256,"
                        "nhc-redraw25,nhc-redraw100,langevin-3e-3,langevin-1e-2,langevin-1e-1-full")
    parser.add_argument("--burn", type=float, default=0.1)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--guard-draws", type=int, default=24, help="snapshots per chain")
    parser.add_argument("--curvature-draws", type=int, default=3)
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()

    config, x, dx, the_plan, built, state = load_trained(args.run_dir)
    sc = config.sampler
    names = term_names(the_plan.library)
    table = variants(sc)
    chosen = [table[n] for n in args.variants.split(",")]
    started = time.perf_counter()
    directions = stiff_directions(built, state, the_plan, config, args.rank)
    curv = np.round([np.asarray(f.curvature) for f in directions]).astype(int).tolist()
    print(f"stiff directions in {time.perf_counter() - started:.0f} s; λ per chain: {curv}",
          flush=True)
    guard_data = GuardData(built, state, directions)
    results, losses = {}, {}
    for variant in chosen:
        draws, snapshots, rate, elapsed, compile_s, diverged = collect(
            variant, built, state, config, x, dx, the_plan, args.seconds * variant.seconds_factor
        )
        burn = args.burn if variant.burn is None else variant.burn
        values, cut = targets(draws, names, burn)  # (draws, chains, 5)
        flat, chain = chain_major(values)
        diag = diagnose(flat, chain)
        n_draws, n_chains = values.shape[:2]
        ess_bulk = np.where(np.isfinite(diag.ess_bulk), diag.ess_bulk, np.inf)
        slowest = int(np.argmin(ess_bulk))
        tau = n_draws * variant.thin * n_chains / diag.ess_bulk  # in steps of one chain
        losses[variant.name] = (flat[:, 0], chain)
        started = time.perf_counter()
        conf, proj, curvs = guard_data.ratio(snapshots, sc.temperature, burn, args.guard_draws,
                                args.curvature_draws)
        guard_s = time.perf_counter() - started
        row = {
            "steps_per_s": rate,
            "seconds": elapsed,
            "compile_s": compile_s,
            "diverged": diverged,
            "draws_per_chain": n_draws,
            "burn": burn,
            "thin": variant.thin,
            "steps_per_chain": n_draws * variant.thin,
            "r_hat": dict(zip(TARGETS, diag.r_hat.tolist(), strict=True)),
            "ess_bulk": dict(zip(TARGETS, diag.ess_bulk.tolist(), strict=True)),
            "ess_tail": dict(zip(TARGETS, diag.ess_tail.tolist(), strict=True)),
            "tau_steps": dict(zip(TARGETS, tau.tolist(), strict=True)),
            "slowest": TARGETS[slowest],
            "mean_loss": float(flat[:, 0].mean()),
            "mean_x_mse": float(flat[:, 1].mean()),
            "t_conf_ratio": conf.ratio.tolist(),
            "t_conf_se": conf.ratio_se.tolist(),
            "t_conf_pooled": conf.pooled,
            "t_conf_pooled_se": conf.pooled_se,
            "guard_draws": conf.n_draws,
            # heating (mean ≈ 0, wide) or a displaced minimum (mean ≠ 0)?
            "proj_mean_over_rms": float(np.mean(np.abs(proj.mean(axis=0)))
                                        / np.sqrt(np.mean(proj**2))),
            "thermal_force_rms": float(np.sqrt(temperature_mean(curvs, sc.temperature))),
            "guard_s": guard_s,
            "projections": proj.tolist(),  # (draws, chains, k) u·∇L, full training set
            "curvatures": curvs.tolist(),  # (chains, draws', k) uᵀ∇²L u
        }
        for ref in ("configured", "reference-dt/4"):
            if ref in losses and ref != variant.name:
                a = mean_loss_agreement(flat[:, 0], losses[ref][0], chain, losses[ref][1])
                row[f"loss_vs_{ref}"] = [a.difference, a.se]
        results[variant.name] = row
        print(json.dumps({variant.name: row}), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    # differences against the reference, now that every variant ran
    if "reference-dt/4" in losses:
        ref = losses["reference-dt/4"]
        for name, row in results.items():
            if name != "reference-dt/4":
                a = mean_loss_agreement(losses[name][0], ref[0], losses[name][1], ref[1])
                row["loss_vs_reference-dt/4"] = [a.difference, a.se]
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def print_table(results: dict) -> None:
    print("| variant | steps/s | steps/chain | max R-hat | min bulk-ESS | min tail-ESS | "
          "τ (steps, slowest) | bulk-ESS/s | mean loss | vs configured | vs dt/4 | "
          "T_conf/T pooled (4 stiff) | guard |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        ess = min(r["ess_bulk"].values())
        tail = min(r["ess_tail"].values())
        rhat = max(r["r_hat"].values())
        tau = r["tau_steps"][r["slowest"]]

        def diff(key, r=r):
            return f"{100 * r[key][0]:+.1f} ± {100 * r[key][1]:.1f} %" if key in r else "—"

        loss_ref = r.get("loss_vs_reference-dt/4")
        conf = ConfigurationalTemperature(
            np.asarray(r["t_conf_ratio"]), np.asarray(r["t_conf_se"]), r["t_conf_pooled"],
            r["t_conf_pooled_se"], np.zeros(0), r["guard_draws"],
        )
        verdict = guard(conf, None if loss_ref is None else _Loss(*loss_ref))
        word = "pass" if verdict.passes else "FAIL"
        word += "" if verdict.resolved else " (unresolved)"
        print(f"| {name} | {r['steps_per_s']:.0f} | {r['steps_per_chain']} | {rhat:.2f} | "
              f"{ess:.0f} | {tail:.0f} | {tau:.0f} ({r['slowest']}) | "
              f"{ess / r['seconds']:.2f} | {r['mean_loss']:.4f} | {diff('loss_vs_configured')} | "
              f"{diff('loss_vs_reference-dt/4')} | {r['t_conf_pooled']:.3f} ± "
              f"{r['t_conf_pooled_se']:.3f} | {word} |")


@dataclasses.dataclass
class _Loss:
    difference: float
    se: float


if __name__ == "__main__":
    jnp.zeros(())  # initialise the backend before timing anything
    main()
