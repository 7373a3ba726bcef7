"""A tiny random XLM-RoBERTa (BGE-M3's architecture) with a Unigram tokenizer, for the export test;
then runs scripts/export-encoder.py on it in the same process (one torch import, not two).

  python test/encode/make-tiny-xlmr.py HF_DIR [export-encoder.py arguments after --model HF_DIR]
"""
import runpy
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import XLMRobertaConfig, XLMRobertaModel

out = sys.argv[1]
export_args = sys.argv[2:]
corpus = ["the user enjoys thoughtful dramas", "prefers classic comedies from the eighties",
          "science fiction with space exploration", "Naïve café owner", "日本のアニメ映画が好きです"] * 50
tok = Tokenizer(models.Unigram())
tok.normalizer = normalizers.NFKC()
tok.pre_tokenizer = pre_tokenizers.Metaspace()
tok.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=200, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"))
tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
torch.manual_seed(0)
cfg = XLMRobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=64, max_position_embeddings=66, pad_token_id=1, type_vocab_size=1)
XLMRobertaModel(cfg).eval().save_pretrained(out)
tok.save(f"{out}/tokenizer.json")

if export_args:
    sys.argv = ["export-encoder.py", "--model", out, *export_args]
    runpy.run_path(str(Path(__file__).resolve().parents[2] / "scripts" / "export-encoder.py"), run_name="__main__")
