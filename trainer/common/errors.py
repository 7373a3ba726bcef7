"""Error kinds a job reports on its last progress line. The activity maps `nonRetryable` ones to a
non-retryable failure: running the job again cannot fix bad input."""


class JobError(Exception):
    """Base class: `kind` goes into the error line, `non_retryable` tells the caller not to retry."""

    kind = "JobError"
    non_retryable = False


class SpecError(JobError):
    """The job spec is malformed (missing field, wrong type, unknown value)."""

    kind = "SpecError"
    non_retryable = True


class DataError(JobError):
    """An input file is missing or does not match the data contract (docs/ARCHITECTURE.md)."""

    kind = "DataError"
    non_retryable = True


class CheckpointError(JobError):
    """The work directory holds checkpoints of a different job."""

    kind = "CheckpointError"
    non_retryable = True


# Exit codes, for whoever runs a job by hand (the runner reads the last line): 75 another process
# holds this job's work directory, 143 stopped on SIGTERM/SIGINT after a checkpoint.
EXIT_OK = 0
EXIT_RETRYABLE = 1
EXIT_NON_RETRYABLE = 2
EXIT_BUSY = 75
EXIT_STOPPED = 143
