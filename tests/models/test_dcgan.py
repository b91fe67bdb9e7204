import torch

from ganinv.models.dcgan import DCGANGenerator, generateme_weights_path, load_dcgan


def test_bundled_dcgan_renders_faces_in_range(dcgan):
    z = dcgan.sample_z(8, seed=0)
    with torch.no_grad():
        img = dcgan(z)
    assert img.shape == (8, 3, 64, 64)
    assert img.min() >= -1 and img.max() <= 1
    # A trained generator gives varied, structured images: different seeds differ, and each image
    # has a bright centre (the face) against its border more often than not.
    assert (img[0] - img[1]).abs().mean() > 0.1
    centre = img[:, :, 20:44, 20:44].mean(dim=(1, 2, 3))
    assert centre.std() > 0.01


def test_same_seed_same_image(dcgan):
    with torch.no_grad():
        a, b = dcgan(dcgan.sample_z(2, seed=5)), dcgan(dcgan.sample_z(2, seed=5))
    assert torch.equal(a, b)


def test_batch_independent(dcgan):
    """Batch norm runs in eval mode: an image does not depend on its batch mates."""
    z = dcgan.sample_z(4, seed=1)
    with torch.no_grad():
        assert torch.allclose(dcgan(z)[:1], dcgan(z[:1]), atol=1e-5)
    dcgan.train()
    assert not dcgan.training


def test_layers_compose(dcgan):
    z = dcgan.sample_z(2, seed=2)
    ws = dcgan.broadcast(z)
    with torch.no_grad():
        full = dcgan.synthesis(ws)
        for layer in dcgan.layer_names[:-1]:
            x = dcgan.features(ws, layer)
            assert tuple(x.shape[1:]) == dcgan.layer_shape(layer)
            assert torch.allclose(dcgan.synthesis_from(x, layer, ws), full, atol=1e-6)


def test_interface(dcgan):
    info = dcgan.info()
    assert info.spaces == ("Z",) and info.num_ws == 1 and info.resolution == 64 and info.z_dim == 100
    assert torch.equal(dcgan.w_avg, torch.zeros(100))


def test_load_is_strict(tmp_path):
    sd = torch.load(generateme_weights_path(), weights_only=True, map_location="cpu")
    sd.pop("convTr5.weight")
    torch.save(sd, tmp_path / "partial.pt")
    try:
        load_dcgan(str(tmp_path / "partial.pt"))
    except RuntimeError as e:
        assert "convTr5.weight" in str(e)
    else:
        raise AssertionError("a state dict with a missing key must be refused")


def test_random_init_differs_from_pretrained(dcgan):
    fresh = DCGANGenerator().eval()
    z = dcgan.sample_z(1, seed=0)
    with torch.no_grad():
        assert (fresh(z) - dcgan(z)).abs().mean() > 0.05
