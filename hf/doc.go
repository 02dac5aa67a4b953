// Package hf exports kvgpt checkpoints in Hugging Face's GPT-2 layout — config.json,
// model.safetensors with GPT-2's names, Conv1D orientation, zero biases and the tied LM head, and
// the tokenizer's files — so that transformers' GPT2LMHeadModel, and every tool that loads GPT-2,
// runs a model trained with kvgpt (Export). Baseline models map one to one; the query-free
// (identity) model becomes a GPT-2 whose W_Q is a multiple of the identity that reproduces it
// exactly under GPT-2's 1/√dh scaling; the residual query mode has no GPT-2 equivalent.
//
// GPT2TokenizerFiles derives GPT-2's vocab.json and merges.txt from a byte-level BPE
// vocabulary in merge-rank order, as tiktoken lists GPT-2's.
//
// The check against a second implementation is python/hf_gpt2.py, a GPT-2 in plain PyTorch written
// from Hugging Face's conventions (not from kvgpt_torch), run by python's tests on exported
// checkpoints, and by transformers' own GPT2LMHeadModel where transformers is installed.
package hf
