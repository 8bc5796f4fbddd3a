"""NIST, METEOR and CIDEr of the E2E NLG Challenge scorer (tuetschek/e2e-metrics, ``measure_scores.py`` l.245:
BLEU, NIST, METEOR, ROUGE_L, CIDEr), written here as small pure functions; BLEU and ROUGE-L stay in ``e2e``.

``hypotheses[i]`` is the output for one MR, ``references[i]`` all human references of that MR.
Tokenisation (both approximate the official tools, which are Perl and Java): NIST lowercases and splits off
punctuation as mteval-v13a's basic tokenizer does; METEOR and CIDEr lowercase and drop punctuation tokens, as the
COCO scorer's PTB tokenizer (``pycocoevalcap/tokenizer/ptbtokenizer.py``, ``-lowerCase``, PUNCTUATIONS removed).
"""
from __future__ import annotations

import math
import re
from collections import Counter

_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|\w+|[^\w\s]")


def mteval_tokens(text: str) -> list[str]:
    """Lowercased words, numbers (keeping decimal points/commas inside them) and single punctuation marks."""
    return _TOKEN.findall(text.lower())


def coco_tokens(text: str) -> list[str]:
    """Lowercased tokens without punctuation (the COCO scorer's PTB tokenisation, approximately)."""
    return [t for t in mteval_tokens(text) if re.search(r"\w", t)]


def ngram_counts(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def nist(hypotheses: list[str], references: list[list[str]], max_n: int = 5) -> float:
    """Corpus NIST (Doddington 2002) as ``metrics/pymteval.py`` ``NISTScore`` (l.205-292) computes it.

    info(w₁..wₙ) = log₂(count(w₁..wₙ₋₁) / count(w₁..wₙ)) over all references of the corpus (count of the empty
    n-gram = total reference words); score = Σₙ [Σ clipped-hit info] / [Σ (|hyp| − n + 1)] times the length
    penalty exp(−β log²(min(1, L_sys / L̄_ref))), β = −ln 0.5 / ln² 1.5, L̄_ref = Σ per-MR mean reference length.
    """
    hyps = [mteval_tokens(h) for h in hypotheses]
    refs = [[mteval_tokens(r) for r in rs] for rs in references]
    ref_counts: list[Counter] = [Counter() for _ in range(max_n + 1)]
    avg_ref_len = 0.0
    for rs in refs:
        ref_counts[0][()] += sum(len(r) for r in rs)
        avg_ref_len += sum(len(r) for r in rs) / len(rs)
        for n in range(1, max_n + 1):
            for r in rs:
                ref_counts[n].update(ngram_counts(r, n))

    def info(g: tuple) -> float:
        if ref_counts[len(g)][g] == 0:
            return 0.0
        return math.log2(ref_counts[len(g) - 1][g[:-1]] / ref_counts[len(g)][g])

    total = 0.0
    for n in range(1, max_n + 1):
        hit_info, cand_len = 0.0, 0
        for h, rs in zip(hyps, refs):
            cand_len += len(h) - n + 1  # as the official sum: short outputs count negative
            best = Counter()
            for r in rs:
                best |= ngram_counts(r, n)  # per n-gram, the largest count in any one reference
            for g, c in ngram_counts(h, n).items():
                hit_info += info(g) * min(c, best[g])
        if cand_len > 0:  # the official code would divide by zero here; such n contribute nothing
            total += hit_info / cand_len
    ratio = sum(len(h) for h in hyps) / avg_ref_len if avg_ref_len else 0.0
    beta = -math.log(0.5) / math.log(1.5) ** 2
    penalty = 1.0 if ratio >= 1 else (0.0 if ratio <= 0 else math.exp(-beta * math.log(ratio) ** 2))
    return penalty * total


def cider_d(hypotheses: list[str], references: list[list[str]], max_n: int = 4, sigma: float = 6.0) -> float:
    """Corpus CIDEr-D as ``pycocoevalcap/cider/cider_scorer.py`` (l.110-197) computes it.

    Per n: tf-idf vectors g = tf · (ln N − ln max(1, df)), df = number of MRs whose references hold the n-gram, N =
    number of MRs; similarity Σ min(g_h, g_r) · g_r / (‖g_h‖ ‖g_r‖) times exp(−(ℓ_h − ℓ_r)² / 2σ²) with ℓ the number
    of bigrams; segment score = 10 · mean over n and over references; corpus score = mean over segments.
    """
    hyps = [coco_tokens(h) for h in hypotheses]
    refs = [[coco_tokens(r) for r in rs] for rs in references]
    df: Counter = Counter()
    for rs in refs:
        df.update({g for r in rs for n in range(1, max_n + 1) for g in ngram_counts(r, n)})
    log_n = math.log(len(refs)) if refs else 0.0

    def vectors(tokens: list[str]):
        vecs = [{g: c * (log_n - math.log(max(1.0, df[g]))) for g, c in ngram_counts(tokens, n).items()}
                for n in range(1, max_n + 1)]
        norms = [math.sqrt(sum(v * v for v in vec.values())) for vec in vecs]
        return vecs, norms, max(0, len(tokens) - 1)

    scores = []
    for h, rs in zip(hyps, refs):
        vh, nh, lh = vectors(h)
        total = 0.0
        for r in rs:
            vr, nr, lr = vectors(r)
            for n in range(max_n):
                val = sum(min(v, vr[n].get(g, 0.0)) * vr[n].get(g, 0.0) for g, v in vh[n].items())
                if nh[n] and nr[n]:
                    val /= nh[n] * nr[n]
                total += val * math.exp(-((lh - lr) ** 2) / (2 * sigma ** 2)) / max_n
        scores.append(10.0 * total / len(rs))
    return sum(scores) / max(1, len(scores))


def exact_alignment(hyp: list[str], ref: list[str]) -> tuple[int, int]:
    """(matches, chunks) of METEOR's exact-match stage. Every hypothesis word takes an unused reference position
    holding the same word (so matches = Σ_w min(count_h(w), count_r(w)), the maximum), preferring the position that
    continues the previous match, else the leftmost. The jar searches for the fewest chunks among maximal
    alignments; this greedy choice can count more chunks when a word repeats (documented deviation)."""
    used = [False] * len(ref)
    matches, chunks, last = 0, 0, None
    for w in hyp:
        cands = [j for j, r in enumerate(ref) if r == w and not used[j]]
        if not cands:
            last = None
            continue
        j = last + 1 if last is not None and last + 1 in cands else cands[0]
        used[j] = True
        matches += 1
        if last is None or j != last + 1:
            chunks += 1
        last = j
    return matches, chunks


def meteor_exact(hypotheses: list[str], references: list[list[str]], alpha: float = 0.85, beta: float = 0.20,
                 gamma: float = 0.60) -> float:
    """METEOR 1.5 (Denkowski & Lavie 2014; the scorer runs ``meteor-1.5.jar -l en -norm``) with only its exact-match
    module: the stem, synonym (WordNet) and paraphrase modules need data this project cannot download.
    Per reference: P = m/|h|, R = m/|r|, F = P R / (α P + (1−α) R), penalty = γ (chunks/m)^β (0 when the output
    equals the reference word for word), score = F (1 − penalty); a segment takes its best reference; the corpus
    score is the mean over segments. English parameters α, β, γ = 0.85, 0.20, 0.60 (function-word weight δ unused
    without the function-word list)."""
    seg = []
    for h, rs in zip(hypotheses, references):
        ht = coco_tokens(h)
        best = 0.0
        for r in rs:
            rt = coco_tokens(r)
            m, ch = exact_alignment(ht, rt)
            if m == 0:
                continue
            p, rc = m / len(ht), m / len(rt)
            f = p * rc / (alpha * p + (1 - alpha) * rc)
            pen = 0.0 if (ch == 1 and m == len(ht) == len(rt)) else gamma * (ch / m) ** beta
            best = max(best, f * (1 - pen))
        seg.append(best)
    return sum(seg) / max(1, len(seg))
