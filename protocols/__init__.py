"""Evaluation protocols (pretext training, linear probe, fine-tuning, retrieval) and their infrastructure."""
