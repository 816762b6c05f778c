"""Training jobs for other machines: a folder that runs Axolotl on a GPU host or cluster
(job.py writes it; axolotl.py builds and checks the YAML)."""
