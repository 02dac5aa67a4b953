package python

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

// Files are the Python sources: kvgpt_torch/*.py, train_ddp.py and hf_gpt2.py.
//
//go:embed kvgpt_torch/*.py train_ddp.py hf_gpt2.py
var Files embed.FS

// Package is the name of the Python package, a directory of Files.
const Package = "kvgpt_torch"

// TrainDDP is the file name of the DDP trainer in Files.
const TrainDDP = "train_ddp.py"

// HFGPT2 is the file name in Files of the plain-PyTorch GPT-2, written from Hugging Face's
// conventions and not from kvgpt_torch, that checks a directory kvgpt export wrote (and runs
// transformers' GPT2LMHeadModel on it where transformers is importable).
const HFGPT2 = "hf_gpt2.py"

// Write writes Files into dir (kvgpt_torch/, train_ddp.py and hf_gpt2.py), creating dir if needed, so that a
// script in dir imports kvgpt_torch.
func Write(dir string) error {
	return fs.WalkDir(Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := Files.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
