"""The evaluation harness: replay traces through the estimator, and simulate traces with exact truth."""
