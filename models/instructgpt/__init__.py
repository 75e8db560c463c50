"""InstructGPT's toy world: instruction prompts, the writers' demonstrations, a pre-training
corpus (`task`) and the hidden labeler whose preferences RLHF learns (`labeler`)."""
from .labeler import hallucination, judge, prefer, rank, score, toxic
from .task import (ANSWER_MARKER, FAMILIES, FAMILY, KINDS, PROMPT_PREFIX, RESPONSE_END, SPLITS,
                   InstructionTask, Instruction, ideal_answer, ideal_response, make_prompt, parse_prompt)

__all__ = [
    "InstructionTask", "Instruction", "KINDS", "FAMILY", "FAMILIES", "SPLITS", "PROMPT_PREFIX",
    "ANSWER_MARKER", "RESPONSE_END", "make_prompt", "parse_prompt", "ideal_answer", "ideal_response",
    "score", "rank", "prefer", "judge", "hallucination", "toxic",
]
