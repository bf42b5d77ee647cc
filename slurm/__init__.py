"""SLURM support: the local test cluster (``slurm/local-cluster.sh``) and sweep status (``python -m slurm.status``)."""
