"""The DVC pipeline (dvc.yaml): the benchmark matrix of params.yaml as stages, run locally or on SLURM.

- ``__main__``: the command line, ``python -m pipeline data|sweep|status|cell``;
- ``paths``: where the pipeline reads and writes;
- ``params``: ``params.yaml`` and the Hydra overrides of a cell;
- ``data_stage``: the ``data`` stage (embedded sets, ``data/manifest.json``);
- ``matrix``: the cells and the records each writes, ``matrix.json``, which cells are done, the records folder kept
  to exactly the matrix's records;
- ``sweep``: the ``sweep`` stage (every cell not done, at once);
- ``local``: ``launcher: local``, the cells as processes here, each ``python -m pipeline cell`` (``launcher: slurm``
  and the cell itself: slurm.launch);
- ``progress``: the cells' states, printed and in ``runs/pipeline/status.json``."""
