"""Training: one loop (:mod:`vprkit.training.loop`) with exact resume, periodic validation, atomic
checkpoints, AMP on CUDA and DDP through ``torchrun``, under three strategies (group-per-epoch
classification, joint heads, triplet mining), and the recipe steps every method's trainer shares."""
