"""Analysis of EAE ensembles: coefficient statistics, latent dynamics and reports."""
