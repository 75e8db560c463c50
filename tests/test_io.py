import json
import pickle
import struct
import sys

import numpy as np
import pytest

pytest.importorskip("safetensors", reason="safetensors is not installed (pip install 'minigrad[io]')")

from minigrad import io  # noqa: E402

DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int8, np.uint8, np.bool_]
SAFETENSORS_NAMES = {np.float32: "F32", np.float64: "F64", np.float16: "F16", np.int64: "I64", np.int32: "I32",
                     np.int8: "I8", np.uint8: "U8", np.bool_: "BOOL"}


def random_array(dtype, shape, rng):
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    # every bit pattern, NaN payloads and infinities included, must survive
    n_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer(rng.bytes(n_bytes), dtype=dtype).reshape(shape).copy()


def read_raw(path):
    """Parse the file by the safetensors spec, independently of the library."""
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def test_round_trip_is_bit_exact_for_every_dtype(tmp_path):
    rng = np.random.default_rng(0)
    state = {f"w_{np.dtype(d).name}": random_array(d, (3, 5), rng) for d in DTYPES}
    state["scalar"] = np.array(2.5, dtype=np.float32)
    state["empty"] = np.zeros((0, 4), dtype=np.float32)
    io.save(state, tmp_path / "ckpt.safetensors")
    loaded = io.load(tmp_path / "ckpt.safetensors")
    assert set(loaded) == set(state)
    for name, array in state.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape, name
        assert loaded[name].tobytes() == array.tobytes(), name


def test_file_follows_the_safetensors_layout(tmp_path):
    rng = np.random.default_rng(1)
    state = {f"t{i}": random_array(d, (2, 3), rng) for i, d in enumerate(DTYPES)}
    io.save(state, tmp_path / "m.safetensors", metadata={"step": "10"})
    header, body = read_raw(tmp_path / "m.safetensors")
    assert header["__metadata__"] == {"step": "10"}
    for i, d in enumerate(DTYPES):
        entry = header[f"t{i}"]
        assert entry["dtype"] == SAFETENSORS_NAMES[d] and entry["shape"] == [2, 3]
        start, end = entry["data_offsets"]
        assert body[start:end] == state[f"t{i}"].tobytes()  # little-endian, C order
    assert io.load_metadata(tmp_path / "m.safetensors") == {"step": "10"}


def test_non_contiguous_and_big_endian_arrays_are_stored_by_value(tmp_path):
    a = np.arange(12, dtype=np.float64).reshape(3, 4).T  # Fortran-ordered view
    b = np.arange(5, dtype=">i4")
    io.save({"a": a, "b": b}, tmp_path / "x.safetensors")
    loaded = io.load(tmp_path / "x.safetensors")
    np.testing.assert_array_equal(loaded["a"], a)
    np.testing.assert_array_equal(loaded["b"], b)
    assert loaded["b"].dtype == np.int32


class FakeTensor:
    """Anything with .numpy(), as minigrad.Tensor has."""

    def __init__(self, array):
        self._array = array

    def numpy(self):
        return self._array


def test_tensors_are_accepted(tmp_path):
    weight = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    io.save({"weight": FakeTensor(weight)}, tmp_path / "t.safetensors")
    assert io.load(tmp_path / "t.safetensors")["weight"].tobytes() == weight.tobytes()


def test_minigrad_tensors_are_accepted(tmp_path):
    minigrad = pytest.importorskip("minigrad")
    if not hasattr(minigrad, "tensor"):
        pytest.skip("the minigrad engine (minigrad.tensor) is not available yet")
    t = minigrad.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    io.save({"t": t}, tmp_path / "t.safetensors")
    np.testing.assert_array_equal(io.load(tmp_path / "t.safetensors")["t"], t.numpy())


@pytest.mark.parametrize("cut", [4, 20, -1])
def test_truncated_file_is_a_clear_value_error(tmp_path, cut):
    path = tmp_path / "ckpt.safetensors"
    io.save({"w": np.ones((10, 10), dtype=np.float32)}, path)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(ValueError, match="not a valid safetensors file") as err:
        io.load(path)
    assert str(path) in str(err.value)
    assert isinstance(err.value, io.CheckpointError)


def test_corrupted_header_is_a_clear_value_error(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    io.save({"w": np.ones(3, dtype=np.float32)}, path)
    blob = bytearray(path.read_bytes())
    blob[8] = ord("#")  # the JSON header's opening brace
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        io.load(path)


class Trap:
    """Unpickling this object would record that code ran."""

    def __reduce__(self):
        return (sys.modules[__name__].spring_trap, ())


TRAPPED = []


def spring_trap():
    TRAPPED.append(True)
    return "sprung"


def test_pickle_files_are_refused_without_being_unpickled(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"w": Trap()}))
    with pytest.raises(ValueError, match="not a valid safetensors file.*pickle"):
        io.load(path)
    assert TRAPPED == []


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        io.load(tmp_path / "nothing.safetensors")


def test_bad_values_are_clear_type_errors(tmp_path):
    with pytest.raises(TypeError, match="value for key 'w.1' is a set"):
        io.save({"w": [1, {2}]}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="keys must be strings"):
        io.save({(1, 2): np.zeros(2)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="dtype object"):
        io.save({"w": np.array([None, 1])}, tmp_path / "x.safetensors")


def test_missing_safetensors_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r'pip install "minigrad\[io\]"'):
        io.save({"w": np.zeros(2)}, tmp_path / "x.safetensors")


def test_header_that_disagrees_with_the_data_is_a_clear_value_error(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    io.save({"w": np.ones(4, dtype=np.float32)}, path)
    blob = path.read_bytes()
    path.write_bytes(blob.replace(b'"shape":[4]', b'"shape":[5]'))  # 5 floats do not fit in 16 bytes
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        io.load(path)
