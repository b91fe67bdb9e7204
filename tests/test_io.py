import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from ganinv.io import (ImageLoadError, LatentFileError, center_crop_resize, load_image, load_latent,
                       pil_to_tensor, save_latent, tensor_to_pil)


def _png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_modes_become_rgb(astronaut):
    small = astronaut.resize((32, 32))
    for mode in ("RGBA", "P", "LA", "L", "CMYK", "I;16", "1"):
        out = load_image(_png_bytes(small.convert(mode), "TIFF" if mode == "CMYK" else "PNG"))
        assert out.mode == "RGB" and out.size == (32, 32), mode


def test_sixteen_bit_keeps_contrast():
    a = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    out = np.asarray(load_image(_png_bytes(Image.fromarray(a, "I;16"))))
    assert out.min() <= 2 and out.max() >= 253


def test_transparent_pixels_composited_on_white():
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert np.asarray(load_image(img))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_applied():
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 20, 20))              # left half white
    exif = Image.Exif()
    exif[0x0112] = 6                                           # rotate 90 CW on display
    out = load_image(_png_bytes(img, "JPEG", exif=exif.tobytes()))
    assert out.size == (20, 40)
    a = np.asarray(out).mean(2)
    assert a[:20].mean() > 200 and a[20:].mean() < 50        # white half is now on top


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert np.asarray(load_image(buf.getvalue()))[0, 0, 0] > 200


@pytest.mark.parametrize("data,match", [(b"", "empty"), (b"not an image at all", "not an image"),
                                        (None, "damaged or truncated")])
def test_bad_files_have_clear_messages(astronaut, data, match):
    if data is None:
        data = _png_bytes(astronaut)[:5000]                  # truncated PNG
    with pytest.raises(ImageLoadError, match=match):
        load_image(data)


def test_decompression_bomb_refused_before_decoding():
    big = _png_bytes(Image.new("L", (9000, 9000)))          # compresses to a few KB
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(big, max_pixels=10_000_000)


def test_odd_shapes(astronaut):
    for size in ((1, 1), (3000, 2)):
        out = center_crop_resize(load_image(Image.new("RGB", size, (10, 20, 30))), 64)
        assert out.size == (64, 64)


def test_tensor_round_trip(astronaut):
    img = astronaut.resize((64, 64))
    t = pil_to_tensor(img)
    assert t.shape == (1, 3, 64, 64) and t.min() >= -1 and t.max() <= 1
    assert np.array_equal(np.asarray(tensor_to_pil(t[0])), np.asarray(img))


def test_latent_round_trip(tmp_path, dcgan):
    z = torch.randn(2, 100)
    p = save_latent(str(tmp_path / "a.npz"), z, model=dcgan.name, space="Z", extra={"note": "x"})
    lf = load_latent(p, G=dcgan)
    assert torch.equal(lf.latent, z) and lf.space == "Z" and lf.meta["note"] == "x"


def test_latent_refusals(tmp_path, dcgan):
    p = save_latent(str(tmp_path / "w.npz"), torch.randn(1, 99), model=dcgan.name, space="Z")
    with pytest.raises(LatentFileError, match="shape"):
        load_latent(p, G=dcgan)
    p = save_latent(str(tmp_path / "m.npz"), torch.randn(1, 100), model="stylegan2-ffhq-256", space="Z")
    with pytest.raises(LatentFileError, match="stylegan2-ffhq-256"):
        load_latent(p, G=dcgan)
    with pytest.raises(LatentFileError, match="NaN"):
        load_latent(save_latent(str(tmp_path / "n.npz"), torch.full((1, 100), float("nan")), model=dcgan.name,
                                space="Z"), G=dcgan)
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    with pytest.raises(LatentFileError, match="readable"):
        load_latent(str(tmp_path / "junk.npz"))


class _Canary:
    def __reduce__(self):
        import os
        return (os.system, ("touch CANARY_FIRED",))


def test_pickled_latent_is_refused_and_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    obj = np.empty(1, dtype=object)
    obj[0] = _Canary()
    np.savez(tmp_path / "evil.npz", latent=obj, meta=np.frombuffer(b"{}", dtype=np.uint8))
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(_Canary(), f)
    with pytest.raises(LatentFileError, match="pickle"):
        load_latent(str(tmp_path / "evil.npz"))
    with pytest.raises(LatentFileError):
        load_latent(str(tmp_path / "evil.pkl"))
    assert not (tmp_path / "CANARY_FIRED").exists()


# --------------------------------------------------------------------------- tuned-generator deltas
def _delta(G, scale: float = 1e-3) -> dict:
    gen = torch.Generator().manual_seed(1)
    return {n: torch.randn(p.shape, generator=gen) * scale for n, p in G.named_parameters() if "convTr" in n}


def test_latent_with_delta_round_trip(tmp_path, tiny_dc):
    G = tiny_dc
    delta = _delta(G)
    p = save_latent(str(tmp_path / "t.npz"), torch.randn(1, 8), model=G.name, space="Z", delta=delta)
    lf = load_latent(p, G=G)
    assert lf.meta["format"] == "ganinv-latent/2" and set(lf.delta) == set(delta)
    for n, d in delta.items():
        assert lf.delta[n].dtype == torch.float32
        assert torch.equal(lf.delta[n], d.half().float())             # stored as float16, nothing else lost
    assert [f.name for f in tmp_path.iterdir()] == ["t.npz"]            # no temporary file left behind
    plain = load_latent(save_latent(str(tmp_path / "p.npz"), torch.randn(1, 8), model=G.name, space="Z"), G=G)
    assert plain.delta is None and plain.meta["format"] == "ganinv-latent/1"


def test_delta_must_fit_the_model(tmp_path, tiny_dc):
    G = tiny_dc
    p = save_latent(str(tmp_path / "t.npz"), torch.randn(1, 8), model=G.name, space="Z", delta=_delta(G))
    from ganinv.models.dcgan import DCGANConfig, DCGANGenerator
    other = DCGANGenerator(DCGANConfig(z_dim=8, channels=(24, 16)), name=G.name)
    with pytest.raises(LatentFileError, match="does not fit.*convTr1.weight"):
        load_latent(p, G=other)
    with pytest.raises(ValueError, match="parameter name"):
        save_latent(str(tmp_path / "b.npz"), torch.randn(1, 8), model=G.name, space="Z",
                    delta={"../x": torch.zeros(2)})
    with pytest.raises(ValueError, match="float16"):
        save_latent(str(tmp_path / "b.npz"), torch.randn(1, 8), model=G.name, space="Z",
                    delta={"convTr1.weight": torch.full((8, 32, 4, 4), 1e6)})


def _write_raw(path, delta_members: dict, params: dict) -> str:
    import json
    meta = {"format": "ganinv-latent/2", "model": "tiny-dcgan", "space": "Z", "shape": [1, 8],
            "delta": {"dtype": "float16", "params": params}}
    np.savez(path, latent=np.zeros((1, 8), np.float32), meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
             **{"delta/" + k: v for k, v in delta_members.items()})
    return str(path)


def test_delta_headers_checked_before_data(tmp_path, monkeypatch, tiny_dc):
    G = tiny_dc
    # shape in the header differs from the metadata
    p = _write_raw(tmp_path / "a.npz", {"convTr1.weight": np.zeros((2, 2), np.float16)},
                   {"convTr1.weight": [8, 32, 4, 4]})
    with pytest.raises(LatentFileError, match="expected float16"):
        load_latent(p)
    # float32 member where float16 is declared
    p = _write_raw(tmp_path / "b.npz", {"convTr1.weight": np.zeros((8, 32, 4, 4), np.float32)},
                   {"convTr1.weight": [8, 32, 4, 4]})
    with pytest.raises(LatentFileError, match="expected float16"):
        load_latent(p)
    # a member the metadata does not list
    p = _write_raw(tmp_path / "c.npz", {"convTr1.weight": np.zeros((8, 32, 4, 4), np.float16),
                                        "extra": np.zeros(3, np.float16)}, {"convTr1.weight": [8, 32, 4, 4]})
    with pytest.raises(LatentFileError, match="does not match its metadata"):
        load_latent(p)
    # a pickled object array as a delta member is refused from its header, never unpickled
    monkeypatch.chdir(tmp_path)
    obj = np.empty(1, dtype=object)
    obj[0] = _Canary()
    p = _write_raw(tmp_path / "d.npz", {"convTr1.weight": obj}, {"convTr1.weight": [1]})
    with pytest.raises(LatentFileError):
        load_latent(p)
    assert not (tmp_path / "CANARY_FIRED").exists()
    # the size cap applies before the data is read
    import ganinv.io.latent_file as gio
    good = save_latent(str(tmp_path / "e.npz"), torch.randn(1, 8), model=G.name, space="Z", delta=_delta(G))
    monkeypatch.setattr(gio, "MAX_DELTA_BYTES", 1000)
    read = []
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__",
                        lambda self, key, _orig=np.lib.npyio.NpzFile.__getitem__: read.append(key) or _orig(self, key))
    with pytest.raises(LatentFileError, match="larger than"):
        load_latent(good, G=G)
    assert not any(k.startswith("delta/") for k in read)


# --------------------------------------------------------------------------- decompression bombs
MiB = 1 << 20


def _npy_header(shape, dtype) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                             "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _member(z, name: str, data: bytes = b"", *, zeros: int = 0, shape=None, dtype=None) -> None:
    """A deflated .npy member: ``data`` (a whole .npy) or a header for ``shape`` followed by ``zeros`` bytes."""
    import zipfile
    with z.open(name, "w", force_zip64=True) as fh:
        fh.write(data or _npy_header(shape, dtype))
        chunk = bytes(16 * MiB)
        while zeros > 0:
            fh.write(chunk[:min(zeros, len(chunk))])
            zeros -= len(chunk)
    assert zipfile.ZIP_DEFLATED == z.compression


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _meta(**kw) -> bytes:
    import json
    meta = {"format": "ganinv-latent/1", "model": "tiny-dcgan", "space": "Z", "shape": [1, 8], **kw}
    return _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))


def _bombs(folder) -> list[str]:
    """Small .npz files (1 MB or less) that inflate to 128 MB (16 MB: a latent of the wrong shape, a
    member no latent has), or that list 400,000 members."""
    import zipfile
    big = 128 * MiB
    kinds = {
        "meta": lambda z: (_member(z, "latent.npy", _npy(np.zeros((1, 8), np.float32))),
                           _member(z, "meta.npy", shape=(big,), dtype=np.uint8, zeros=big)),
        "latent": lambda z: (_member(z, "meta.npy", _meta(shape=[big // 32, 8])),
                             _member(z, "latent.npy", shape=(big // 32, 8), dtype=np.float32, zeros=big)),
        "wide": lambda z: (_member(z, "meta.npy", _meta()),
                           _member(z, "latent.npy", shape=(1, 4 * MiB), dtype=np.float32, zeros=16 * MiB)),
        "delta": lambda z: (_member(z, "meta.npy", _meta(format="ganinv-latent/2", delta={
                                "dtype": "float16", "params": {"convTr1.weight": [big // 2]}})),
                            _member(z, "latent.npy", _npy(np.zeros((1, 8), np.float32))),
                            _member(z, "delta/convTr1.weight.npy", shape=(big // 2,), dtype=np.float16, zeros=big)),
        "extra": lambda z: (_member(z, "meta.npy", _meta()),
                            _member(z, "latent.npy", _npy(np.zeros((1, 8), np.float32))),
                            _member(z, "x.npy", shape=(16 * MiB,), dtype=np.uint8, zeros=16 * MiB)),
    }
    paths = []
    for kind, write in kinds.items():
        paths.append(str(folder / f"{kind}.npz"))
        with zipfile.ZipFile(paths[-1], "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            write(z)
    paths.append(str(folder / "members.npz"))
    _directory_bomb(paths[-1], 400_000)
    return paths


def _directory_bomb(path: str, n: int) -> None:
    """A zip whose central directory lists ``n`` nameless empty members (46 bytes each: 18 MB for 400,000,
    within an upload).  Written by hand: zipfile's writer takes seconds for this many."""
    import struct
    entry = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    directory = entry * n
    head = b"PK\x03\x04" + bytes(26)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(directory), len(head), 0)
    with open(path, "wb") as f:
        f.write(head + directory + end)


_MEASURE = """
import resource, sys, torch
from factories import tiny_dcgan
from ganinv.io import LatentFileError, load_latent, save_latent
torch.set_num_threads(1)
G = tiny_dcgan()
load_latent(save_latent(sys.argv[1] + "/ok.npz", torch.zeros(1, 8), model=G.name, space="Z"), G=G)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for path in sys.argv[2:]:
    try:
        load_latent(path, G=G)
        print("accepted", path)
    except LatentFileError as e:
        print("refused:", e)
print("peak_mb", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""


def test_latent_bombs_refused_before_inflating(tmp_path):
    import os
    import subprocess
    import sys
    paths = _bombs(tmp_path)
    assert max(os.path.getsize(p) for p in paths) < 20 * MiB            # every one fits the app's upload limit
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(here), here]), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", _MEASURE, str(tmp_path), *paths], capture_output=True, text=True,
                       env=env, timeout=300)
    lines = r.stdout.splitlines()
    assert r.returncode == 0, r.stderr[-2000:]
    assert sum(ln.startswith("refused:") for ln in lines) == len(paths), lines
    assert float(lines[-1].split()[1]) < 100, lines                      # MB above the process's baseline


def test_latent_headers_checked_before_latent_data(tmp_path, monkeypatch, tiny_dc):
    G = tiny_dc
    read = []
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__",
                        lambda self, key, _orig=np.lib.npyio.NpzFile.__getitem__: read.append(key) or _orig(self, key))
    p = save_latent(str(tmp_path / "w.npz"), torch.zeros(3, 9), model=G.name, space="Z")
    with pytest.raises(LatentFileError, match=r"has shape \[N, 8\], got \[3, 9\]"):
        load_latent(p, G=G)
    with pytest.raises(LatentFileError, match="not 'other'"):
        load_latent(p, model="other")
    assert "latent" not in read
    import warnings
    import zipfile
    for name, members, phrase in [
        ("twice", [("meta.npy", _meta()), ("latent.npy", _npy(np.zeros((1, 8), np.float32)))] * 2, "twice"),
        ("odd", [("meta.npy", _meta()), ("latent.npy", _npy(np.zeros((1, 8), np.float32))), ("x", b"")],
         "unexpected member 'x'"),
        ("meta", [("meta.npy", _npy(np.zeros(3, np.float32))), ("latent.npy", _npy(np.zeros((1, 8), np.float32)))],
         "metadata is missing"),
        ("deep", [("meta.npy", _npy(np.frombuffer(("[" * 100_000 + "]" * 100_000).encode(), np.uint8))),
                  ("latent.npy", _npy(np.zeros((1, 8), np.float32)))], "metadata is missing"),
    ]:
        with zipfile.ZipFile(tmp_path / f"{name}.npz", "w") as z, warnings.catch_warnings():
            warnings.simplefilter("ignore")              # zipfile warns about the name written twice on purpose
            for member, data in members:
                z.writestr(member, data)
        with pytest.raises(LatentFileError, match=phrase):
            load_latent(str(tmp_path / f"{name}.npz"), G=G)
    lf = load_latent(save_latent(str(tmp_path / "ok.npz"), torch.zeros(2, 8), model=G.name, space="Z"), G=G)
    assert lf.latent.shape == (2, 8)
