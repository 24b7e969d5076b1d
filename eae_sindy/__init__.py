"""eae-sindy: entropic autoencoders (EAEs) for discovering latent governing equations.

The encoder of an EAE is *sampled* at finite temperature by Simmering (a Nosé–Hoover-chain
molecular-dynamics sampler) while the decoder follows the gradient of its free energy.
Submodules are imported lazily by the user: ``eae_sindy.simmering``, ``eae_sindy.sindy``,
``eae_sindy.models``, ``eae_sindy.eae``, ``eae_sindy.config``, ``eae_sindy.discover``.
"""

__version__ = "0.1.0"
