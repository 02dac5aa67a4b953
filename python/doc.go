// Package python holds kvgpt's Python code — kvgpt_torch, the project's one PyTorch definition
// of the model with kvgpt's checkpoints and batch order; train_ddp.py, which continues a kvgpt
// run under torchrun with DistributedDataParallel; and hf_gpt2.py, a GPT-2 in plain PyTorch
// written from Hugging Face's conventions, independent of kvgpt_torch, that checks what
// `kvgpt export --format hf` writes — and embeds it, so that Go programs and tests can run it from
// any directory (Write). Its tests check the Python side against the Go side where they must
// agree bit for bit: the batch order (Go's PCG and IntN) and the CRC-32C of checkpoints; and the
// exported models' logits against kvgpt's.
package python
