"""flowscan's benchmarks. Measurements only: no test asserts a speed."""
