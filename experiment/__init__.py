"""The Hydra app behind protocols/run.py: one run pretrains a method and evaluates it with every protocol."""
