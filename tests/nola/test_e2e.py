"""E2E CSV loader on a tiny file in the official format, and the text metrics on known cases."""
import pytest

from workloads.nola.e2e import E2EDataMissingError, bleu, load_e2e, rouge_l


def test_loader_groups_references_by_mr(tmp_path):
    path = tmp_path / "devset.csv"
    path.write_text('mr,ref\n"name[Aromi], food[Chinese]","Aromi serves Chinese food."\n'
                    '"name[Aromi], food[Chinese]","Chinese food is served at Aromi."\n'
                    '"name[Bibimbap House], area[riverside]","Bibimbap House is by the river."\n', encoding="utf-8")
    data = load_e2e(path)
    assert list(data) == ["name[Aromi], food[Chinese]", "name[Bibimbap House], area[riverside]"]
    assert data["name[Aromi], food[Chinese]"] == ["Aromi serves Chinese food.", "Chinese food is served at Aromi."]


def test_loader_errors_name_the_cause(tmp_path):
    with pytest.raises(E2EDataMissingError, match="not found"):
        load_e2e(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("meaning,text\na,b\n")
    with pytest.raises(E2EDataMissingError, match="'mr' and 'ref'"):
        load_e2e(bad)


def test_metrics_on_known_cases():
    refs = [["the cat sat on the mat today", "a cat was on the mat"]]
    assert bleu(["the cat sat on the mat today"], refs) == pytest.approx(100.0)
    assert rouge_l(["the cat sat on the mat today"], refs) == pytest.approx(100.0)
    # ROUGE-L by hand: LCS("the cat", "the cat sat on the mat today") = 2, P = 1, R = 2/7, F = 2PR/(P+R) = 4/9
    assert rouge_l(["the cat"], [["the cat sat on the mat today"]]) == pytest.approx(100 * 4 / 9)
    assert bleu(["completely different words here"], refs) < 5.0
