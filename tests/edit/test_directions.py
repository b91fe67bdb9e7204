"""Direction files: round trip, validation against the model, shipped set."""
import io
import json

import numpy as np
import pytest

from ganinv.edit import Direction, DirectionError, list_directions, load_direction, save_direction
from ganinv.models.dcgan import DCGANGenerator

SHIPPED = "celeba-dcgan-64"


def make(model="celeba-dcgan-64", space="Z", dim=100, name="d"):
    v = np.random.default_rng(0).standard_normal(dim).astype(np.float32)
    return Direction(name, model, space, v / np.linalg.norm(v), "interfacegan", attribute="smile",
                     scorer="test", num_samples=10, accuracy_val=0.9, accuracy_rest=0.7)


def test_round_trip(tmp_path, dcgan):
    d = make()
    path = save_direction(d, str(tmp_path))
    assert path.endswith(f"{SHIPPED}/d.npy")
    meta = json.loads((tmp_path / SHIPPED / "d.json").read_text())
    assert {"model", "space", "layers", "method", "attribute", "scorer", "num_samples", "accuracy_val",
            "accuracy_rest", "created"} <= set(meta)
    back = load_direction("d", G=dcgan, root=str(tmp_path))
    assert np.array_equal(back.vector, d.vector) and back.accuracy_val == 0.9
    assert load_direction(path, G=dcgan).name == "d"


def test_wrong_model_is_refused(tmp_path):
    other = DCGANGenerator(name="digiface-dcgan-64")                 # same shapes, different model
    path = save_direction(make(), str(tmp_path))
    with pytest.raises(DirectionError, match="celeba-dcgan-64.*not 'digiface-dcgan-64'"):
        load_direction(path, G=other)


def test_wrong_space_or_dim_is_refused(tmp_path, dcgan):
    with pytest.raises(DirectionError, match="lives in W"):
        load_direction(save_direction(make(space="W", name="w"), str(tmp_path)), G=dcgan)
    with pytest.raises(DirectionError, match=r"shape \[64\]"):
        load_direction(save_direction(make(dim=64, name="short"), str(tmp_path)), G=dcgan)


def test_unsafe_or_incomplete_files_are_refused(tmp_path, dcgan):
    folder = tmp_path / SHIPPED
    folder.mkdir()
    np.save(folder / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (folder / "obj.json").write_text(json.dumps(make().meta()))
    with pytest.raises(DirectionError, match="unreadable"):
        load_direction(str(folder / "obj.npy"))
    np.save(folder / "lonely.npy", np.zeros(100, np.float32))
    with pytest.raises(DirectionError, match="no metadata"):
        load_direction(str(folder / "lonely.npy"))
    with pytest.raises(DirectionError, match="no direction 'nope'"):
        load_direction("nope", G=dcgan, root=str(tmp_path))
    with pytest.raises(DirectionError, match="invalid direction name"):
        load_direction("bad name!", G=dcgan)


def test_shipped_directions_fit_and_carry_accuracies(dcgan):
    shipped = {d.name: d for d in list_directions(SHIPPED)}
    assert {"smile", "yaw", "mouth_open", "happy"} <= set(shipped)
    for name in ("smile", "yaw", "mouth_open", "happy"):
        d = load_direction(name, G=dcgan)
        assert d.method == "interfacegan" and d.attribute == name and d.num_samples >= 2000
        assert np.linalg.norm(d.vector) == pytest.approx(1.0, abs=1e-5)
        assert d.accuracy_val >= 0.85
        # a median split (yaw) leaves no remaining samples to score: no accuracy on them
        assert (d.accuracy_rest is None) == (d.extra["chosen_fraction"] == 0.5)
        assert d.accuracy_rest is None or 0.5 < d.accuracy_rest <= 1.0


def test_direction_files_checked_before_reading(tmp_path, monkeypatch):
    """The vector's header and the metadata's size are checked before either is read."""
    folder = tmp_path / SHIPPED
    folder.mkdir()
    header = io.BytesIO()                                                    # a header for 2.4 MB of floats...
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (2, 300_000)})
    (folder / "wide.npy").write_bytes(header.getvalue() + bytes(400))         # ...in a small file
    (folder / "wide.json").write_text(json.dumps(make().meta()))
    loads = []
    monkeypatch.setattr(np, "load", lambda *a, _load=np.load, **k: loads.append(a) or _load(*a, **k))
    with pytest.raises(DirectionError, match=r"at most 1024 KB, found float32 \[2, 300000\]"):
        load_direction(str(folder / "wide.npy"))
    assert loads == []
    np.save(folder / "fat.npy", make().vector)
    (folder / "fat.json").write_text(json.dumps({**make().meta(), "extra": {"pad": "x" * (2 << 20)}}))
    with pytest.raises(DirectionError, match="fat.json is larger than 1024 KB"):
        load_direction(str(folder / "fat.npy"))
