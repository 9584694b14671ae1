"""What bench/ and tests/ share: real clusters on loopback (Hadoop, Spark standalone, Kafka), the
streaming job under kill -9, the model maker and paths. Not part of the product."""
