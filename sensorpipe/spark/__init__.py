"""What both Spark engines (jobs/, streaming/) share: column grammars, the reject cascade, Hadoop
FileSystem access through the JVM, and spark-submit building."""
