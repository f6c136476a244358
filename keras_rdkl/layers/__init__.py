"""keras_rdkl.layers."""
