# %% [markdown]
# # Lesson 2 — n-grams: counting, maximum likelihood, perplexity, sampling
#
# A language model gives a probability to every sequence of tokens. By the chain rule,
#
# $$P(w_1 \dots w_T) = \prod_{i=1}^{T} P(w_i \mid w_1 \dots w_{i-1}),$$
#
# so all we need is the probability of the next token given the ones before it. The oldest
# way to get it is to **count**. This lesson counts characters in names (makemore's
# `names.txt`), words in a handful of sentences, and characters in a play, and measures how
# good the counts are on text they have not seen.
#
# Run it as a script (`python tutorials/02_ngrams.py [--fast] [--data DIR]`) or open it as a
# notebook with jupytext. Without `--data` it uses the corpora minigrad generates itself; with
# a folder holding `names.txt` and `tinyshakespeare.txt` it uses those, and prints the
# numbers the lectures report next to ours. Figures go to out/02_ngrams/ (or --out DIR).

# %%
import sys
import time
from pathlib import Path

if "__file__" in globals():  # run as a script from a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from minigrad.data import builtin_names, builtin_text, train_val_split
from minigrad.data.splits import makemore_split
from minigrad_tutorials.report import Lesson
from minigrad_models.ngram import NGramLM, tokenize_words

lesson = Lesson("02_ngrams", "n-grams: counting, MLE, perplexity, sampling",
                point="Counting is a language model: normalised counts are its probabilities, and on held-out "
                      "text Kneser-Ney keeps gaining from longer contexts where add-k smoothing turns back.")


def corpus_file(name):
    path = lesson.data_dir / name if lesson.data_dir else None
    return path if path is not None and path.is_file() else None


names_path, text_path = corpus_file("names.txt"), corpus_file("tinyshakespeare.txt")
if names_path:
    words = names_path.read_text().splitlines()
    names_source = "names.txt (makemore)"
else:
    words = builtin_names(2000 if lesson.fast else 32000)
    names_source = f"builtin_names({len(words)})"
if text_path:
    text = text_path.read_text()
    text_source = "tinyshakespeare.txt"
    if lesson.fast:  # the quick path keeps the first 200k characters
        text, text_source = text[:200_000], "tinyshakespeare.txt[:200000]"
else:
    text = builtin_text(100_000 if lesson.fast else 1_000_000)
    text_source = f"builtin_text({len(text)})"

# makemore's split: random.seed(42); random.shuffle(words); 80% / 10% / 10%
train_words, dev_words, test_words = makemore_split(words)
train_text, val_text = train_val_split(text, 0.9)  # nanoGPT's: first 90% / last 10%
lesson.say(f"names: {names_source}, {len(train_words)} / {len(dev_words)} / {len(test_words)} train/dev/test")
lesson.say(f"text: {text_source}, {len(train_text)} / {len(val_text)} characters train/val")

# %% [markdown]
# ## 1. The bigram table
#
# Pad every name with a boundary token `.` on both sides (`.emma.`) and count each pair of
# neighbouring characters. Row `a`, column `b` holds $C(ab)$, how often `b` followed `a`. The
# first row (`.` followed by a letter) counts how names start; the first column counts how
# they end. This 27 x 27 table *is* the bigram model.

# %%
bigram = NGramLM(2, "mle", boundary=".").fit(train_words)
V = len(bigram.vocab)
counts = np.stack([bigram.counts(c) for c in bigram.vocab])  # counts[i, j] = C(vocab[i] vocab[j])

fig, ax = plt.subplots(figsize=(13, 13))
ax.imshow(counts, cmap="Blues")
if not lesson.fast:  # 729 labelled cells, as in the lecture; drawing them takes seconds
    for i in range(V):
        for j in range(V):
            label = f"{bigram.vocab[i]}{bigram.vocab[j]}\n{counts[i, j]}"
            ax.text(j, i, label, ha="center", va="center", color="gray", fontsize=7)
ax.set_xticks(range(V), bigram.vocab)
ax.set_yticks(range(V), bigram.vocab)
ax.set_xlabel("next character $w_n$")
ax.set_ylabel("previous character $w_{n-1}$")
ax.set_title(f"bigram counts C(w_(n-1) w_n), {names_source} training names")
lesson.figure(fig, "bigram_counts", caption="The bigram count table: row = previous character, column = next.")

# %% [markdown]
# ## 2. Maximum likelihood: normalise the counts
#
# The maximum-likelihood estimate divides each count by its row total:
#
# $$P(w_n \mid w_{n-1}) = \frac{C(w_{n-1} w_n)}{C(w_{n-1})}$$
#
# so each row of the table becomes a probability distribution over the next character. The row
# of `.` is the distribution of first letters. Sampling a name is a walk through this table:
# start at `.`, draw the next character from its row, move to that row, stop at `.`.

# %%
row = bigram.probs(".")
lesson.table(
    [{"w_n": c, "C(. w_n)": int(n), "P(w_n | .)": round(float(p), 4)} for c, n, p in zip(bigram.vocab, counts[0], row)],
    "first_letter_row",
    caption="Row '.' of the table, one line per next character: its count and P(w_n | w_(n-1) = '.'), "
            "the first letter of a name.",
)
lesson.metric("P(a | .) bigram MLE", float(row[bigram.vocab.index("a")]))
lesson.say("bigram samples: " + ", ".join(bigram.sample(10, seed=2147483647)))

# %% [markdown]
# ## 3. Words: P("i") and the probability of "i am waiting for"
#
# The same counts work on words. The unigram estimate is $P(\text{"i"}) = C(\text{"i"}) /
# C(\text{tokens})$; a bigram model with a sentence-start token `<s>` scores
#
# $$P(\text{i am waiting for}) = P(\text{i} \mid \text{<s>})\,P(\text{am} \mid \text{i})\,
#   P(\text{waiting} \mid \text{am})\,P(\text{for} \mid \text{waiting}).$$

# %%
sentences = [
    "I am waiting for the bus.",
    "I am waiting for my friend.",
    "I am going to the shop.",
    "You are waiting for the train.",
    "We are waiting for you.",
    "I am waiting for a letter.",
    "I was waiting for the rain to stop.",
    "I am tired.",
]
tokenized = [tokenize_words(s) for s in sentences]
unigram_words = NGramLM(1, "mle").fit([w for s in tokenized for w in s])
n_tokens = sum(len(s) for s in tokenized)
lesson.say(f'P("i") = C("i") / C(tokens) = {unigram_words.count(["i"])} / {n_tokens} = {unigram_words.prob("i"):.4f}')

word_bigram = NGramLM(2, "mle", boundary="<s>").fit(tokenized)
query = tokenize_words("i am waiting for")
steps, previous = [], "<s>"
for word in query:
    steps.append({
        "w_(n-1)": previous, "w_n": word,
        "C(w_(n-1) w_n)": word_bigram.count([previous, word]),
        "C(w_(n-1))": int(word_bigram.counts([previous]).sum()),
        "P(w_n | w_(n-1))": word_bigram.prob(word, [previous]),
    })
    previous = word
lesson.table(steps, "sentence_probability", caption='Each factor of P("i am waiting for") under the bigram MLE.')
p_sentence = word_bigram.sentence_probability("i am waiting for")
assert np.isclose(p_sentence, np.prod([s["P(w_n | w_(n-1))"] for s in steps]))
lesson.metric("P(i am waiting for) bigram MLE", p_sentence)

# %% [markdown]
# ## 4. The Markov property
#
# A bigram model *assumes* that the next token depends only on the previous one:
# $P(w_i \mid w_1 \dots w_{i-1}) \approx P(w_i \mid w_{i-1})$. An n-gram model keeps the last
# n-1 tokens: $P(w_i \mid w_{i-n+1} \dots w_{i-1})$. This is the (order n-1) **Markov
# property**: given the recent past, the distant past adds nothing. It is what makes counting
# possible, since a context of n-1 tokens recurs often enough to be counted, and it is also the
# model's whole limitation: "emm" must predict "a" with no idea that the name began with "e",
# and no n-gram can close a quotation opened n tokens ago. Growing n helps only until the
# contexts become so specific that most of them were never seen in training; after that the
# model is guessing from counts of one or zero. The rest of this course replaces the count
# table with a function that generalises across contexts (lesson 3 learns this same bigram
# table by gradient descent; lessons 4 and 6 drop the fixed window).

# %% [markdown]
# ## 5. How good is it? Negative log-likelihood and perplexity
#
# Score held-out text by its average negative log-likelihood (cross-entropy) in nats per token,
# $-\frac{1}{N}\sum_i \ln P(w_i \mid \text{context})$; perplexity $= e^{\text{loss}}$ is the
# number of equally likely choices that would be as surprising (27 for a uniform guess over
# names' characters). Maximum likelihood gives probability 0 to any pair never seen in
# training, so one unseen pair makes the dev loss infinite. The fixes:
#
# - **add-k**: $P(w \mid h) = \frac{C(hw) + k}{C(h) + kV}$ — pretend every pair was seen k
#   more times (k = 1 is Laplace; makemore's `(N+1)`).
# - **interpolated Kneser-Ney**: subtract a discount D from every seen count and hand that
#   mass to the (n-1)-gram estimate, whose counts measure how many different contexts a token
#   follows rather than how often it occurs ("Francisco" is frequent but only after "San").
#   We use modified KN: three discounts D1, D2, D3+ per order, estimated from how many n-grams
#   were seen once, twice, three and four times.

# %%
loss_rows = []
for label, model in [
    ("MLE", NGramLM(2, "mle", boundary=".")),
    ("add-1", NGramLM(2, "add_k", k=1.0, boundary=".")),
    ("Kneser-Ney", NGramLM(2, "kneser_ney", boundary=".")),
]:
    model.fit(train_words)
    loss_rows.append({"bigram": label, "train": model.cross_entropy(train_words),
                      "dev": model.cross_entropy(dev_words), "test": model.cross_entropy(test_words)})
lesson.table(loss_rows, "bigram_loss", caption="Bigram loss on names, nats per character (inf: an unseen pair).")
lesson.metric("names bigram add-1 dev loss", loss_rows[1]["dev"])
if names_path:
    full = NGramLM(2, "mle", boundary=".").fit(words).cross_entropy(words)
    full_add1 = NGramLM(2, "add_k", k=1.0, boundary=".").fit(words).cross_entropy(words)
    lesson.say(
        f"all 32,033 names, as in makemore part 1: MLE {full:.4f}, add-1 {full_add1:.4f} nats/char "
        "(the lecture prints 2.4541 and 2.4544: the same models, log-probs summed in float32)"
    )

# %% [markdown]
# ## 6. Perplexity against n
#
# Longer contexts fit the training set ever better (the loss falls towards 0 as n-grams become
# unique), but on held-out text the curve turns: add-k spreads too much mass over the
# V^(n-1) contexts it has never seen, while Kneser-Ney keeps improving for a few more orders
# because it falls back to shorter contexts where the long one is rare.

# %%
ADD_K = (1.0, 0.1, 0.01)  # add-k's k is chosen on the dev set for each n


def sweep(train, dev, boundary, orders):
    rows, fit_seconds = [], {}
    for n in orders:
        best = None
        for k in ADD_K:
            m = NGramLM(n, "add_k", k=k, boundary=boundary).fit(train)
            dev_loss = m.cross_entropy(dev)
            if best is None or dev_loss < best[1]:
                best = (k, dev_loss, m)
        k, add_dev, add_model = best
        t0 = time.perf_counter()
        kn = NGramLM(n, "kneser_ney", boundary=boundary).fit(train)
        fit_seconds[n] = time.perf_counter() - t0
        t0 = time.perf_counter()
        kn_dev = kn.cross_entropy(dev)
        eval_seconds = time.perf_counter() - t0
        rows.append({
            "n": n, "add-k k": k,
            "add-k train": add_model.cross_entropy(train), "add-k dev": add_dev,
            "KN train": kn.cross_entropy(train), "KN dev": kn_dev, "KN dev perplexity": float(np.exp(kn_dev)),
            "KN fit s": round(fit_seconds[n], 3), "KN eval s": round(eval_seconds, 3),
        })
    return rows, kn


orders = range(1, 7)
names_rows, names_kn6 = sweep(train_words, dev_words, ".", orders)
lesson.table(names_rows, "names_loss_vs_n", caption=f"Names ({names_source}): loss in nats/char, makemore dev split.")
text_rows, text_kn6 = sweep(train_text, val_text, None, orders)
lesson.table(text_rows, "text_loss_vs_n", caption=f"Text ({text_source}): loss in nats/char, last 10% as validation.")

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, rows, title in [(axes[0], names_rows, names_source), (axes[1], text_rows, text_source)]:
    ns = [r["n"] for r in rows]
    for key, style in [("add-k train", "C0--"), ("add-k dev", "C0-o"), ("KN train", "C1--"), ("KN dev", "C1-o")]:
        ax.plot(ns, [r[key] for r in rows], style, label=key)
    ax.set_xlabel("n (context of n-1 characters)")
    ax.set_ylabel("cross-entropy, nats/char")
    ax.set_title(title)
    ax.legend()
lesson.figure(fig, "loss_vs_n", caption="Train and held-out loss against n, add-k (k tuned on dev) and Kneser-Ney: "
              "the held-out curves turn where the contexts become too rare to count.", key=True)

by_n = {r["n"]: r for r in names_rows}
lesson.metric("names KN 3-gram dev loss", by_n[3]["KN dev"])
lesson.metric("names KN 4-gram dev loss", by_n[4]["KN dev"])
lesson.metric("names KN 5-gram dev loss", by_n[5]["KN dev"])
text_by_n = {r["n"]: r for r in text_rows}
lesson.metric("text KN 5-gram val loss", text_by_n[5]["KN dev"])
lesson.metric("text KN 6-gram val loss", text_by_n[6]["KN dev"])
lesson.metric("text KN 5-gram fit seconds", text_by_n[5]["KN fit s"])
if names_path:
    lesson.say("reference: KN 5-gram on names dev about 1.99 nats/char")
if text_path and not lesson.fast:
    lesson.say("reference: KN 5-gram about 1.57, 6-gram about 1.54 nats/char on tiny Shakespeare validation")
best_kn = min(names_rows, key=lambda r: r["KN dev"])
best_add = min(names_rows, key=lambda r: r["add-k dev"])
lesson.point_shown(best_kn["KN dev"] < best_add["add-k dev"] and best_add["n"] < max(orders),
                   f"on held-out names Kneser-Ney is best at n = {best_kn['n']} ({best_kn['KN dev']:.3f} nats/char), "
                   f"add-k at n = {best_add['n']} ({best_add['add-k dev']:.3f}) and worse beyond it")

# %% [markdown]
# ## 7. Sampling
#
# Every model here can generate: feed it n-1 boundary tokens, draw the next token from
# $P(\cdot \mid \text{context})$, shift the window, repeat. The bigram's names are barely
# pronounceable; four characters of context (a 5-gram) already give plausible names, and five
# (a 6-gram) on a play give words, punctuation and speaker names in the right places.

# %%
names_kn5 = NGramLM(5, "kneser_ney", boundary=".").fit(train_words)
lesson.say("KN 5-gram names: " + ", ".join(names_kn5.sample(10, seed=0)))
lesson.say("KN 6-gram text sample:\n" + text_kn6.sample(1, seed=0, max_length=300, prompt=train_text[:5])[0])

# %%
lesson.finish()
