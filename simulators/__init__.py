"""Data generators that write HDF5 data sets for eae-sindy (see ``simulators.lambda_omega``)."""
