package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/hf"
)

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ckptPath := fs.String("checkpoint", filepath.Join(defaultOut, checkpointFile), "checkpoint `file` written by kvgpt train")
	format := fs.String("format", "hf", "output format: hf (Hugging Face's GPT-2: config.json, model.safetensors, the tokenizer's files)")
	out := fs.String("out", "", "output `directory` (default: hf next to the checkpoint)")
	dtype := fs.String("dtype", "float32", "weights: float32 or float16")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (all options are flags; see -h)", fs.Arg(0))
	}
	if *format != "hf" {
		return fmt.Errorf("unknown --format %q (want hf)", *format)
	}
	if *dtype != "float32" && *dtype != "float16" {
		return fmt.Errorf("unknown --dtype %q (want float32 or float16)", *dtype)
	}
	if *out == "" {
		*out = filepath.Join(filepath.Dir(*ckptPath), "hf")
	}
	head, _, err := readCheckpointHeader(*ckptPath)
	if err != nil {
		return err
	}
	ck, err := loadCheckpoint(*ckptPath, head, stderr)
	if err != nil {
		return err
	}
	res, err := hf.Export(ck, *out, hf.Options{DType: *dtype})
	if err != nil {
		return err
	}
	c := ck.Config
	fmt.Fprintf(stdout, "exported %s (%s, step %d, %d parameters) to %s as Hugging Face GPT-2, %s:\n", *ckptPath, c.QueryMode, ck.Step, c.NumParams(), *out, *dtype)
	for _, f := range res.Files {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(*out, f))
	}
	if c.QueryMode == gpt.Identity {
		fmt.Fprintf(stdout, "identity mode: W_Q = %g·I (zero bias), so GPT-2's q·k/√dh is kvgpt's %g·q·k\n", res.QueryScale, c.Scale())
	}
	fmt.Fprintf(stdout, "tokenizer: %s\n", res.Tokenizer)
	fmt.Fprintf(stdout, "load with: GPT2LMHeadModel.from_pretrained(%q)\n", *out)
	return nil
}
