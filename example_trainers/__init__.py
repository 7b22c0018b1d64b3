"""Runnable trainers that show the lightning-xai callbacks on the tutorials' models."""
