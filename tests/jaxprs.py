"""What the tests read off a traced program (``jax.make_jaxpr``): the primitives it holds."""

import jax
import jax.extend


def primitive_names(jaxpr) -> set[str]:
    """Names of the primitives of ``jaxpr`` and of all its sub-jaxprs (scan, cond, ...)."""
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            names |= primitive_names(sub)
    return names
