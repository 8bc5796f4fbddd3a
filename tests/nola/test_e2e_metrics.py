"""NIST, METEOR (exact stage) and CIDEr-D of the E2E scorer on tiny inputs checked by hand."""
import math

import pytest

from workloads.nola.e2e_metrics import cider_d, coco_tokens, exact_alignment, meteor_exact, mteval_tokens, nist


def test_tokenizers():
    assert mteval_tokens("The Eagle, priced 20.50!") == ["the", "eagle", ",", "priced", "20.50", "!"]
    assert coco_tokens("The Eagle, priced 20.50!") == ["the", "eagle", "priced", "20.50"]


def test_nist_identical_sentence_by_hand():
    # ref counts: 6 words; 'the' twice -> info log2(6/2); others log2(6/1). Bigrams: info(the cat) =
    # log2(count(the)/count(the cat)) = log2(2) = 1, same for 'the mat'; the other bigrams and all longer n-grams 0.
    s = "the cat sat on the mat"
    hand = (2 * math.log2(3) + 4 * math.log2(6)) / 6 + 2 / 5
    assert nist([s], [[s]]) == pytest.approx(hand, rel=1e-12)


def test_nist_length_penalty_and_clipping():
    # hypothesis 'the the' (2 words) vs reference 'the cat' (2 words): 'the' clipped to 1 hit, info log2(2/1) = 1;
    # n = 1: 1/2; no bigram hit; ratio 1 -> no penalty
    assert nist(["the the"], [["the cat"]]) == pytest.approx(0.5)
    # half the reference length: penalty exp(-β ln²(0.5)), β = -ln 0.5 / ln² 1.5
    beta = -math.log(0.5) / math.log(1.5) ** 2
    one = nist(["a b"], [["a b c d"]])
    info = math.log2(4)  # each of a, b: count(()) = 4, count = 1; bigram (a, b): log2(1/1) = 0
    assert one == pytest.approx(math.exp(-beta * math.log(0.5) ** 2) * (2 * info / 2), rel=1e-12)


def test_cider_by_hand():
    # two MRs; every n-gram's df = 1 -> weight tf · ln 2. Segment 1 identical: cos = 1 for n = 1, 2, 0 for 3, 4
    # -> 10 · 2/4 = 5. Segment 2 'c e' vs 'c d': unigram cos = ln2² / (√2 ln2)² = 0.5, bigram 0 -> 10 · 0.5/4.
    assert cider_d(["a b", "c d"], [["a b"], ["c d"]]) == pytest.approx(5.0)
    assert cider_d(["a b", "c e"], [["a b"], ["c d"]]) == pytest.approx((5.0 + 1.25) / 2)


def test_cider_length_gaussian_and_reference_mean():
    # one ref identical and one disjoint: mean over references halves the identical-ref score
    assert cider_d(["a b", "c d"], [["a b", "x y"], ["c d"]]) == pytest.approx((2.5 + 5.0) / 2)


def test_meteor_exact_by_hand():
    assert exact_alignment("the cat sat".split(), "the cat sat".split()) == (3, 1)
    assert exact_alignment("sat the cat".split(), "the cat sat".split()) == (3, 2)
    assert meteor_exact(["The cat sat."], [["the cat sat"]]) == pytest.approx(1.0)
    # 'sat the cat' vs 'the cat sat': P = R = 1, F = 1, 2 chunks over 3 matches: penalty 0.6 (2/3)^0.2
    assert meteor_exact(["sat the cat"], [["the cat sat"]]) == pytest.approx(1 - 0.6 * (2 / 3) ** 0.2)
    # 'the dog' vs 'the cat sat': m = 1, P = 1/2, R = 1/3, F = PR / (0.85 P + 0.15 R), one chunk
    p, r = 0.5, 1 / 3
    f = p * r / (0.85 * p + 0.15 * r)
    assert meteor_exact(["the dog"], [["x y", "the cat sat"]]) == pytest.approx(f * (1 - 0.6 * 1.0 ** 0.2))
    assert meteor_exact(["zzz"], [["the cat"]]) == 0.0
