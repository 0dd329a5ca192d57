"""Tests of what the real products do, each one a correction of an earlier reading (the lab follows them)."""
