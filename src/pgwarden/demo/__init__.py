"""The demo: simulated sources, demo models, and the `pgwarden demo` run."""
