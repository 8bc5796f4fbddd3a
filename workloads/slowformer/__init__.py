"""SlowFormer: universal patch attacks on the compute of token-dropping ViTs (workload ``slowformer``)."""
