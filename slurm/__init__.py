"""SLURM support: the DVC pipeline's launch code (``slurm/launch.py``), sweep status (``python -m slurm.status``) and
the local test cluster (``slurm/local-cluster.sh``)."""
