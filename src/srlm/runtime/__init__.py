"""What a run needs at run time, below every other package: the run directory and its write
disciplines (``rundir``), several processes on one run (``distributed``), finding and loading
checkpoints (``models``), and torch threads / memory (``resources``)."""
