"""The local control plane for tests, benchmarks and `make run`."""
