"""Operations: backups with proven restores, lifecycle policies, maintenance, capacity.

Every operation goes through `runner.run_op` (one at a time per target,
a run record, a dry run); external binaries are driven by `tools`.
"""
