"""Training machinery shared by the protocols: the training step and loaders (engine), multi-process plumbing
(distributed), checkpoints, preemption signals and the training recipes."""
