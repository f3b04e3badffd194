"""The training engine every method reuses: group-per-epoch classification training with exact
resume, periodic validation, atomic checkpoints, AMP on CUDA and DDP through ``torchrun``."""
