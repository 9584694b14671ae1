"""sensorpipe: clean machine telemetry at scale (Hadoop Streaming, Spark) from one spec."""

__version__ = "0.1.0"
