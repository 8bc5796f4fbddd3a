"""GPT-2 on E2E-format data: grammar corpus, tokenizer, loss masking, batched decoding, paper-scale files."""

import pytest
import torch

from orchestrator.context import LocalContext
from support.real_format import write_tiny_gpt2_folder
from orchestrator.registry import build_config, get_workload
from workloads.nola.e2e import E2EDataMissingError, load_e2e
from workloads.nola.e2e_grammar import build_grammar_corpus, make_split
from workloads.nola.gpt2_e2e import IGNORE, generate, make_batch
from workloads.nola.gpt2_models import GPT2CheckpointMissingError, check_checkpoint_folder, small_gpt2
from workloads.nola.word_tokenizer import WordTokenizer, detokenize, split_words


def _tok():
    return WordTokenizer.from_texts(["name[Aromi], eatType[pub]", "Aromi is a pub.", "It is cheap."])


def test_grammar_is_deterministic_and_test_mrs_are_unseen(tmp_path):
    assert make_split("target", 20, seed=1) == make_split("target", 20, seed=1)
    files = build_grammar_corpus(tmp_path, pretrain_mrs=30, train_mrs=20, test_mrs=5)
    train, test, pre = (load_e2e(files[k]) for k in ("train", "test", "pretrain"))
    assert len(test) == 5 and all(len(refs) == 2 and refs[0] != refs[1] for refs in test.values())
    assert not set(test) & (set(train) | set(pre))
    assert "" in pre  # target-style sentences without their MR are part of pre-training only
    for refs in train.values():  # the word tokenizer round-trips every reference exactly
        assert all(detokenize(split_words(r)) == r for r in refs)


def test_batch_labels_cover_only_reference_and_eos():
    tok = _tok()
    batch = make_batch(tok, [("name[Aromi], eatType[pub]", "Aromi is a pub."), ("name[Aromi]", "It is cheap.")], 64)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    n_mr = len(tok.encode("name[Aromi], eatType[pub]")) + 1  # MR tokens and the separating <eos>
    n_ref = len(tok.encode("Aromi is a pub.")) + 1            # reference tokens and the closing <eos>
    assert (labels[0, :n_mr] == IGNORE).all() and (labels[0, n_mr:n_mr + n_ref] == ids[0, n_mr:n_mr + n_ref]).all()
    assert ids[0, n_mr - 1] == tok.eos_token_id and ids[0, n_mr + n_ref - 1] == tok.eos_token_id
    assert (labels[1][mask[1] == 0] == IGNORE).all() and int(mask[1].sum()) < ids.shape[1]
    assert tok.decode(ids[0, n_mr:n_mr + n_ref].tolist()) == "Aromi is a pub."


def test_left_padded_batch_decoding_equals_one_by_one():
    tok = _tok()
    torch.manual_seed(0)
    model = small_gpt2("gpt2-tiny", len(tok)).eval()
    mrs = ["name[Aromi], eatType[pub]", "name[Aromi]", "eatType[pub], name[Aromi], eatType[pub]"]
    together = generate(model, tok, mrs, max_len=64, max_new_tokens=6)
    alone = [generate(model, tok, [m], max_len=64, max_new_tokens=6)[0] for m in mrs]
    assert together == alone
    beams = generate(model, tok, mrs, max_len=64, max_new_tokens=6, num_beams=3)
    assert len(beams) == 3 and all(isinstance(b, str) for b in beams)


def _run(tmp_path, scale="smoke", data_root=None, **params):
    wl = get_workload("nola")
    ctx = LocalContext(seed=0, scale=scale, work_dir=tmp_path / "work", cache_dir=tmp_path / "cache",
                       data_root=data_root, device="cpu")
    (tmp_path / "work").mkdir(exist_ok=True)
    wl.fn(build_config(wl, {"experiment": "e2e", "target": "qv", "steps": 3, "batch_size": 4, "pretrain_steps": 5,
                            "eval_mrs": 3, "max_new_tokens": 8, **params}), ctx)
    return ctx.summaries


def test_e2e_smoke_nola_lora_and_unadapted(tmp_path):
    nola = _run(tmp_path, method="nola", rank=8, basis_size=6, shared_basis=False)
    assert nola["trainable_k"] == pytest.approx(2 * 2 * 12 / 1000)  # 2 layers x (Q, V) x (k + l)
    assert 0 <= nola["bleu"] <= 100 and 0 <= nola["rouge_l"] <= 100 and nola["train_loss"] > 0
    lora = _run(tmp_path, method="lora", rank=1, quant_mode="qat", quant_bits=3)
    assert lora["adapter_params"] == 2 * 2 * (32 + 32)  # gpt2-tiny: width 32, rank 1 on Q and V
    # 3-bit codes, plus a float32 min and step for each of the 2 x 2 x 2 quantized factors (A, B of Q and V per layer)
    assert lora["checkpoint_bytes"] == (lora["adapter_params"] * 3 + 7) // 8 + 8 * 8
    before = _run(tmp_path, method="lora", steps=0)
    assert "train_loss" not in before and "bleu" in before
    assert (tmp_path / "work" / "e2e_predictions.tsv").read_text().count("\n") == 3


def test_paper_scale_reads_local_checkpoint_and_e2e_csvs(tmp_path):
    data = tmp_path / "data"
    with pytest.raises(E2EDataMissingError, match="trainset.csv"):
        _run(tmp_path, scale="paper", data_root=data, method="nola", basis_size=4)
    (data / "e2e").mkdir(parents=True)
    rows = 'mr,ref\n"name[Aromi], eatType[pub]","Aromi is a pub."\n"name[Cotto], eatType[pub]","Cotto is a pub."\n'
    for name in ("trainset.csv", "testset_w_refs.csv"):
        (data / "e2e" / name).write_text(rows)
    with pytest.raises(GPT2CheckpointMissingError, match="gpt2-medium.*config.json"):
        _run(tmp_path, scale="paper", data_root=data, method="nola", basis_size=4)
    write_tiny_gpt2_folder(data / "checkpoints" / "nola" / "gpt2-medium", ["Aromi Cotto is a pub name eatType"])
    s = _run(tmp_path, scale="paper", data_root=data, method="nola", basis_size=4, max_new_tokens=4)
    assert s["trainable_k"] == pytest.approx(1 * 2 * 8 / 1000) and "bleu" in s


def test_checkpoint_check_names_every_missing_file(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    with pytest.raises(GPT2CheckpointMissingError) as err:
        check_checkpoint_folder(tmp_path / "m", "gpt2-large")
    assert "model.safetensors" in str(err.value) and "merges.txt" in str(err.value) and "config.json;" not in str(err.value)
