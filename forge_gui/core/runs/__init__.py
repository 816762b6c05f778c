"""A run's life: its settings and state in `run.json` (`run`), the rules its settings obey
(`rules`), the lock a live run holds (`run_lock`), the lock on a model name two runs may not
share (`name_lock`), and the list of runs the front ends show (`runs_index`)."""
