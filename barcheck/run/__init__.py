"""Running checks: jobs in worker processes or on Dask, the result cache, user policy files and their checks, the patch gate's recording.  Sits on the engine; decides no verdict itself."""
