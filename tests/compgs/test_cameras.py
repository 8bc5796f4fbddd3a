import torch

from workloads.compgs.cameras import ring_cameras


def test_ring_cameras_look_at_origin_with_world_up_as_image_up():
    for cam in ring_cameras(6, radius=3.0, height=1.0, size=64, phase=0.5):
        m = cam["world_to_cam"].double()
        assert torch.allclose(m[:3, :3] @ m[:3, :3].T, torch.eye(3, dtype=torch.float64), atol=1e-6)
        p = m @ torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64)
        assert abs(p[0]) < 1e-6 and abs(p[1]) < 1e-6
        assert abs(p[2] - (3.0**2 + 1.0**2) ** 0.5) < 1e-5  # distance to the origin along the view axis
        up = m @ torch.tensor([0.0, 0.0, 0.5, 1.0], dtype=torch.float64)
        assert up[1] < 0  # a point above the origin appears above the image centre (y down)
