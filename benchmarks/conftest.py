import os

# One torch thread per benchmark, as the scripts' main() sets: the figures are per CPU core. Set before the
# benchmark modules import torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")
