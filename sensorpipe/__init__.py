"""sensorpipe: clean machine telemetry at scale (Hadoop Streaming, Spark) from one spec."""

__version__ = "0.1.0"  # pyproject.toml reads it ([tool.setuptools.dynamic])


def version() -> str:
    """The installed distribution's version; this module's in a tree that was never installed."""
    from importlib import metadata  # noqa: PLC0415 (this package also ships to Hadoop task nodes)

    try:
        return metadata.version("sensorpipe")
    except metadata.PackageNotFoundError:
        return __version__
