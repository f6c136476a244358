"""keras_rdkl.compat."""
