"""The fleet simulator: machines that degrade and fail, their history as CSV with its logs, the
live feed into a landing directory or Kafka, and C-MAPSS replay."""
