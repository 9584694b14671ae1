"""The harness that bench/ and tests/ share: real clusters on loopback, the streaming job run
and killed, a small registered model, the paths. Both import it; it imports neither, does not
import pytest (a failure raises an exception) and is no part of the shipped product.
"""
