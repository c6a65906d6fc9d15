"""`make bench`: the appraisal case against the bare engine, in one run (issue #11)."""
