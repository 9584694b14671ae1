"""`make demo` / `sensorpipe demo`: a fleet from simulation to live alerts, each step a CLI process."""
