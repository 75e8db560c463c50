"""Data: tokenizers, corpora, datasets and loaders.

Importing this package never imports the autograd engine; only the DataLoader's collate
step does, when it builds Tensors.
"""
from .corpora import builtin_names, builtin_text, get_batch, load_text, train_val_split
from .dataset import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split
from .tokenizers import BPETokenizer, CharTokenizer, GPT2Tokenizer, WordPieceTokenizer, find_minilm_dir

__all__ = [
    "CharTokenizer", "BPETokenizer", "WordPieceTokenizer", "GPT2Tokenizer", "find_minilm_dir",
    "Dataset", "TensorDataset", "Subset", "DataLoader", "default_collate", "random_split",
    "load_text", "get_batch", "train_val_split", "builtin_names", "builtin_text",
]
