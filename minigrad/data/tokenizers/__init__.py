"""Tokenizers: text to integer ids and back.

- `CharTokenizer`: one id per character (makemore, char-RNN, nanoGPT's shakespeare_char).
- `BPETokenizer`: byte-level byte-pair encoding trained from scratch (GPT-2's scheme).
- `WordPieceTokenizer`: BERT's uncased tokenisation from a `vocab.txt`.

All three save to and load from plain files (JSON or vocab.txt); nothing is pickled.
"""
from .bpe import BPETokenizer
from .char import CharTokenizer
from .wordpiece import WordPieceTokenizer, find_minilm_dir

__all__ = ["CharTokenizer", "BPETokenizer", "WordPieceTokenizer", "find_minilm_dir"]
