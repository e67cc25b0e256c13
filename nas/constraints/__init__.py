"""What makes an architecture feasible: resource limits (`limits`) and the latency tables that
predict one of them (`latency`)."""
