"""The measured protocols (pretext pretraining, linear probe, SVM, fine-tuning, retrieval, frozen features), the
`run.py` entry point and its Hydra config tree (conf/)."""
