"""Scripts written as bert4keras 0.11 users write them (tests/compat/test_ported_scripts.py)."""
