"""What the server's metrics (``server._metrics``) and a worker's (``runtime``) share: the latency buckets, so
that a server's and its workers' histograms line up on one dashboard."""

from __future__ import annotations

__all__ = ["LATENCY_BUCKETS"]

#: Latency buckets (seconds): from a cached read to a long poll's end.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
