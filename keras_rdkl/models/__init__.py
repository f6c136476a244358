"""keras_rdkl.models."""
