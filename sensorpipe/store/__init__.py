"""File stores behind one interface (base.Store): local paths (local.py) and HDFS through pydoop
(hdfs.py), the one a path names (uri.py); list inputs, read headers, commit a run's output
whole with _SUCCESS last, replace a file in one rename."""
