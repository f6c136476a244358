"""keras_rdkl.metrics."""

from keras_rdkl.metrics.calibration import ExpectedCalibrationError
from keras_rdkl.metrics.calibration import multilabel_calibration
from keras_rdkl.metrics.calibration import reliability_diagram_data
from keras_rdkl.metrics.calibration import reliability_table
from keras_rdkl.metrics.crf import CRFTokenAccuracy
from keras_rdkl.metrics.span_f1 import SpanF1

__all__ = [
    "CRFTokenAccuracy",
    "ExpectedCalibrationError",
    "SpanF1",
    "multilabel_calibration",
    "reliability_diagram_data",
    "reliability_table",
]
