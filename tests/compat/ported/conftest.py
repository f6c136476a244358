"""The scripts here are run by tests/compat/test_ported_scripts.py, never imported.

They read data and build models at import, so pytest (which imports every
module for `--doctest-modules`) leaves them alone.
"""

collect_ignore = ["classification.py", "ner_crf.py", "ner_global_pointer.py"]
