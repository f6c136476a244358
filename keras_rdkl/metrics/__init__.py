"""keras_rdkl.metrics."""
