"""Renderers: values in, text out. They format; they decide nothing."""
