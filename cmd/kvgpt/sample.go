package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/kvgpt/kvgpt/gpt"
)

func runSample(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ckptPath := fs.String("checkpoint", filepath.Join(defaultOut, checkpointFile), "checkpoint `file` written by kvgpt train (the default is where a bare kvgpt train writes it)")
	prompt := fs.String("prompt", "", "text to continue (default: start from token 0)")
	sc := gpt.SampleConfig{Tokens: 500, Temperature: 0.8, TopP: 1, Seed: 1}
	fs.IntVar(&sc.Tokens, "tokens", sc.Tokens, "tokens to generate")
	fs.Float64Var(&sc.Temperature, "temperature", sc.Temperature, "softmax temperature (lower is more conservative; 0: greedy, always the most likely token)")
	fs.IntVar(&sc.TopK, "top-k", sc.TopK, "sample from the k most likely tokens only (0: all)")
	fs.Float64Var(&sc.TopP, "top-p", sc.TopP, "sample from the most likely tokens whose probabilities add up to p only (nucleus sampling; 0 < p ≤ 1, 1: all)")
	fs.Uint64Var(&sc.Seed, "seed", sc.Seed, "random seed")
	be := backendFlag{name: "auto"}
	be.define(fs, backendNames)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (all options are flags; see -h)", fs.Arg(0))
	}
	if sc.TopP == 0 { // gpt reads 0 as "all"; on the command line it is a mistake
		return errors.New("--top-p must be in (0, 1], got 0")
	}
	if sc.Temperature == 0 { // greedy: always the most likely token
		for _, f := range []string{"top-k", "top-p", "seed"} {
			if flagSet(fs, f) {
				return fmt.Errorf("--%s %s would be ignored: --temperature 0 always takes the most likely token (drop one of them)", f, fs.Lookup(f).Value)
			}
		}
	}
	if err := sc.Validate(); err != nil {
		return err
	}
	if _, err := os.Stat(*ckptPath); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checkpoint %s does not exist: train a model with kvgpt train (a bare kvgpt train writes %s) or pass --checkpoint FILE",
			*ckptPath, filepath.Join(defaultOut, checkpointFile))
	}
	// The header first: the tokenizer and the memory plan come before the tensors are read.
	ck, err := gpt.ReadCheckpointHeader(*ckptPath)
	if err != nil {
		return err
	}
	tok, err := ck.Tokenizer()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", *ckptPath, err)
	}
	if tok.Kind() == "char" && !utf8.ValidString(*prompt) {
		return errors.New("prompt: not valid UTF-8 text, and the checkpoint's tokens are characters")
	}
	ids, err := tok.Encode(*prompt)
	if err != nil {
		return fmt.Errorf("prompt: %w", err)
	}
	b, err := be.open(stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := checkSampleMemory(b, ck, stderr); err != nil {
		return err
	}
	if ck, err = loadCheckpoint(*ckptPath, ck, stderr); err != nil {
		return err
	}
	m, err := gpt.New(ck.Config, b, 0)
	if err != nil {
		return err
	}
	if err := ck.LoadWeights(m); err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	fmt.Fprint(w, *prompt)
	// Byte tokens may split a UTF-8 character: print bytes as they come, the terminal joins them.
	_, err = m.Generate(ids, sc, func(id int32) {
		fmt.Fprint(w, tok.Decode([]int32{id}))
		if id == '\n' {
			w.Flush()
		}
	})
	fmt.Fprintln(w)
	return err
}
