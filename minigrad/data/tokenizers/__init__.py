"""Tokenizers: text to integer ids and back.

- `CharTokenizer`: one id per character (makemore, char-RNN, nanoGPT's shakespeare_char).
- `BPETokenizer`: byte-level byte-pair encoding trained from scratch (GPT-2's scheme).
- `WordPieceTokenizer`: BERT's uncased tokenisation from a `vocab.txt`.
- `GPT2Tokenizer`: GPT-2's own byte-level BPE from its `vocab.json` and `merges.txt`.

All of them save to and load from plain files (JSON or vocab.txt); nothing is pickled.
"""
from .bpe import BPETokenizer
from .char import CharTokenizer
from .gpt2 import GPT2Tokenizer
from .wordpiece import WordPieceTokenizer, find_minilm_dir

__all__ = ["CharTokenizer", "BPETokenizer", "WordPieceTokenizer", "GPT2Tokenizer", "find_minilm_dir"]
