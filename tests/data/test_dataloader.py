import numpy as np
import pytest

minigrad = pytest.importorskip("minigrad")
if not hasattr(minigrad, "tensor"):
    pytest.skip("the minigrad engine is not available", allow_module_level=True)

from minigrad.data import DataLoader, Dataset, TensorDataset, random_split  # noqa: E402
from minigrad.data.dataset import default_collate  # noqa: E402


class Squares(Dataset):
    """item i = (i, i**2 as float64 array, 'name-i')"""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return i, np.array([i, i * i], dtype=np.float64), f"name-{i}"

    def __len__(self):
        return self.n


def epoch_order(loader):
    return [int(v) for batch in loader for v in batch[0].numpy().ravel()]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("dataset", [Squares(23), TensorDataset(np.arange(23), np.arange(23) ** 2)])
def test_every_sample_once_per_epoch(dataset, shuffle):
    loader = DataLoader(dataset, batch_size=5, shuffle=shuffle, seed=0)
    assert len(loader) == 5
    for _ in range(2):
        order = epoch_order(loader)
        assert sorted(order) == list(range(23))
        assert (order == list(range(23))) != shuffle
    sizes = [len(batch[0].numpy()) for batch in loader]
    assert sizes == [5, 5, 5, 5, 3]


def test_drop_last_drops_only_the_short_batch():
    loader = DataLoader(Squares(23), batch_size=5, shuffle=True, drop_last=True, seed=1)
    assert len(loader) == 4
    order = epoch_order(loader)
    assert len(order) == 20 and len(set(order)) == 20
    assert len(DataLoader(Squares(20), batch_size=5, drop_last=True)) == 4


def test_seed_repeats_the_sequence_of_epochs_and_different_seeds_differ():
    def two_epochs(seed):
        loader = DataLoader(Squares(50), batch_size=8, shuffle=True, seed=seed)
        return epoch_order(loader), epoch_order(loader)

    first, second = two_epochs(3)
    assert (first, second) == two_epochs(3)
    assert first != second  # a new order each epoch
    assert first != two_epochs(4)[0]


def test_without_a_seed_manual_seed_repeats_the_shuffle():
    loader = DataLoader(Squares(40), batch_size=8, shuffle=True)
    minigrad.manual_seed(7)
    a = epoch_order(loader)
    minigrad.manual_seed(7)
    assert epoch_order(loader) == a
    generator = minigrad.Generator(5)
    b = epoch_order(DataLoader(Squares(40), batch_size=8, shuffle=True, generator=generator))
    assert b == epoch_order(DataLoader(Squares(40), batch_size=8, shuffle=True, generator=minigrad.Generator(5)))


def test_default_collate_stacks_fields_with_pytorch_dtypes():
    index, values, names = default_collate([Squares(5)[i] for i in (1, 3)])
    assert isinstance(index, minigrad.Tensor) and index.dtype == np.int64
    np.testing.assert_array_equal(index.numpy(), [1, 3])
    assert values.dtype == np.float64 and values.shape == (2, 2)
    np.testing.assert_array_equal(values.numpy(), [[1, 1], [3, 9]])
    assert names == ["name-1", "name-3"]
    batch = default_collate([{"x": 1.5, "ok": True, "t": minigrad.tensor([1.0, 2.0])},
                             {"x": 2.0, "ok": False, "t": minigrad.tensor([3.0, 4.0])}])
    assert batch["x"].dtype == np.float64 and batch["ok"].dtype == np.bool_
    assert batch["t"].dtype == np.float32
    np.testing.assert_array_equal(batch["t"].numpy(), [[1, 2], [3, 4]])


def test_collate_of_ragged_samples_is_a_clear_error():
    with pytest.raises(ValueError, match=r"different shapes.*collate_fn"):
        default_collate([np.zeros(3), np.zeros(4)])


def test_tensor_dataset_batches_equal_the_rows():
    x = minigrad.tensor(np.arange(30, dtype=np.float32).reshape(10, 3))
    y = np.arange(10) % 3
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, seed=0)
    for xb, yb in loader:
        assert isinstance(xb, minigrad.Tensor) and xb.dtype == np.float32 and yb.dtype == y.dtype
        rows = (xb.numpy()[:, 0] // 3).astype(int)
        np.testing.assert_array_equal(yb.numpy(), y[rows])
    with pytest.raises(ValueError, match=r"first dimension.*\(10, 3\).*\(9,\)"):
        TensorDataset(x, np.zeros(9))


def test_custom_collate_fn():
    loader = DataLoader(Squares(6), batch_size=4, collate_fn=lambda samples: [s[2] for s in samples])
    assert list(loader) == [["name-0", "name-1", "name-2", "name-3"], ["name-4", "name-5"]]


def test_random_split_counts_and_fractions_follow_pytorch():
    parts = random_split(Squares(10), [3, 7], generator=0)
    assert [len(p) for p in parts] == [3, 7]
    seen = sorted(p[i][0] for p in parts for i in range(len(p)))
    assert seen == list(range(10))
    # 11 * [0.5, 0.3, 0.2] -> floors 5, 3, 2 (sum 10); the 1 left over goes to the first part
    assert [len(p) for p in random_split(Squares(11), [0.5, 0.3, 0.2], generator=0)] == [6, 3, 2]
    # 10 * [0.33, 0.33, 0.34] -> 3, 3, 3; one left over -> first
    assert [len(p) for p in random_split(Squares(10), [0.33, 0.33, 0.34], generator=0)] == [4, 3, 3]


def test_random_split_is_deterministic_for_a_generator():
    a = random_split(Squares(20), [0.5, 0.5], generator=3)[0].indices
    assert a == random_split(Squares(20), [0.5, 0.5], generator=3)[0].indices
    assert a != random_split(Squares(20), [0.5, 0.5], generator=4)[0].indices


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="sum to the dataset's length 10"):
        random_split(Squares(10), [3, 3])
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(Squares(3), batch_size=0)
    with pytest.raises(TypeError, match="generator"):
        random_split(Squares(3), [1, 2], generator="abc")
