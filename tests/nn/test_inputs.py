"""nn.inputs: the one ids check (integers in [0, vocab), a negative id never wraps around; the error
names the caller, the id and the vocabulary) and the one mask-to-bias, used by every model."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.inputs import mask_to_bias, token_ids
from minigrad_models.gpt import GPT, GPTConfig
from minigrad_models.rnn_lm import CharRNN
from minigrad_models.transformer import Seq2SeqConfig, TransformerSeq2Seq


def test_token_ids_converts_and_checks():
    t = token_ids([1, 2, 3], "M", vocab_size=4)
    assert t.shape == (1, 3) and t.dtype == np.int64
    assert token_ids(np.array([[1], [2]], dtype=np.int32), "M").dtype == np.int64
    with pytest.raises(ValueError, match=r"M: token id -1 is outside the vocabulary \[0, 4\) \(input_ids\); "
                                         "negative ids do not wrap around"):
        token_ids([[0, -1]], "M", vocab_size=4)
    with pytest.raises(ValueError, match=r"token id 4 is outside the vocabulary \[0, 4\) \(labels\)"):
        token_ids([[4, 0]], "M", "labels", vocab_size=4)
    with pytest.raises(ValueError, match=r"M: input_ids must be integer token ids of shape \(batch, seq_len\), "
                                         "got shape \\(1, 2\\) and dtype float64"):
        token_ids([[0.0, 1.0]], "M")


@pytest.mark.parametrize("model, call", [
    (lambda: GPT(GPTConfig(block_size=8, vocab_size=5, n_layer=1, n_head=1, n_embd=4)), lambda m, x: m(x)),
    (lambda: CharRNN(5, "gru", 4, 4), lambda m, x: m(x)),
    (lambda: TransformerSeq2Seq(Seq2SeqConfig(src_vocab_size=5, tgt_vocab_size=5, d_model=8, nhead=2,
                                              num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=8)),
     lambda m, x: m(x, [[1, 2]])),
])
def test_every_model_refuses_a_negative_id_instead_of_wrapping(model, call):
    m = model()
    with pytest.raises(ValueError, match="token id -1 is outside the vocabulary .*negative ids do not wrap"):
        call(m, np.array([[1, -1]]))
    with pytest.raises(ValueError, match=r"token id 5 is outside the vocabulary \[0, 5\)"):
        call(m, np.array([[1, 5]]))


@pytest.mark.parametrize("mask", [np.array([[1, 1, 0]]), np.array([[True, True, False]]), np.array([[1.0, 1.0, 0.0]])])
def test_mask_to_bias_by_hand(mask):
    np.testing.assert_array_equal(mask_to_bias(mask).numpy(), [[0.0, 0.0, -np.inf]])
    np.testing.assert_array_equal(mask_to_bias(mask, np.float64, attend=False).numpy(), [[-np.inf, -np.inf, 0.0]])
    assert mask_to_bias(mask, np.float64).dtype == np.float64


def test_a_key_padding_mask_acts_as_its_bias():
    """MultiheadAttention turns a bool key_padding_mask into the same bias as mask_to_bias(attend=False)."""
    mg.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    x = mg.randn(2, 3, 8)
    pad = np.array([[False, False, True], [False, True, True]])
    with_bool = mha(x, x, x, key_padding_mask=pad)[0]
    with_bias = mha(x, x, x, key_padding_mask=mask_to_bias(pad, attend=False))[0]
    np.testing.assert_array_equal(with_bool.numpy(), with_bias.numpy())
