"""The DVC pipeline (dvc.yaml): the benchmark matrix of params.yaml as stages, run locally or on SLURM."""
