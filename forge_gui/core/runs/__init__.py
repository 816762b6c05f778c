"""A run's life: its settings and state in `run.json` and the StepSpec of its steps (`run`),
the rules its settings obey (`rules`), what its evaluation found (`evaluation_result`), the lock
a live run holds (`run_lock`), the lock on a model name two runs may not share (`name_lock`),
and the list of runs the front ends show (`runs_index`). It imports no tool wrapper."""
