// Package python holds kvgpt's Python code — kvgpt_torch, the project's one PyTorch definition
// of the model with kvgpt's checkpoints and batch order, and train_ddp.py, which continues a kvgpt
// run under torchrun with DistributedDataParallel — and embeds it, so that Go programs and tests
// can run it from any directory (Write). Its tests check the Python side against the Go side
// where they must agree bit for bit: the batch order (Go's PCG and IntN) and the CRC-32C of
// checkpoints.
package python
