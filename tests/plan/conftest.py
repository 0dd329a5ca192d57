"""The plan/apply tests use the shared fixtures of tests/conftest.py (lab_connections, make_deployment)."""
