"""CompGS: vector-quantized 3D Gaussian splatting (dissertation Section 3.1, Appendix B)."""
