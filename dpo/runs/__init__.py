"""Running jobs: one at a time per job (an advisory lock), each run recorded in `job_runs`."""
