"""The pipeline, the top floor of core: the one walk over a run's steps (`walk`), the steps of
a training run (`train_pipeline`; the trainer's values from the run's settings:
`train_options`), the same run as a bash script (`script`), and the checks made before a run
starts (`preflight`, `preflight_run`)."""
