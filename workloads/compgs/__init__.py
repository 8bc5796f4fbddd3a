"""CompGS: vector-quantized 3D Gaussian splatting (dissertation Section 3.1, Appendix B); workload ``compgs``."""
from workloads.compgs.workload import run

__all__ = ["run"]
