"""The cleaning core, stdlib only: the spec, value grammars, rows, codec, statistics, transforms and
output layout. Exactly what ships to Hadoop task nodes (mapreduce/runner.py ship())."""
