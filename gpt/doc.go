// Package gpt is the model of kvgpt: a nanoGPT-style decoder in two query modes — Baseline (the
// standard W_Q, K, V projection) and Identity (the query-free model of arXiv 2510.23912, where the
// query of each head is the matching slice of the LayerNorm output itself) — with its training
// loop, evaluation, sampling, data and checkpoints. It runs on any nn.Backend. A third mode,
// Residual (arXiv 2603.13381's nonlinear query, see residual.go), needs a backend with the RMSNorm
// op (nn.RMSNormer: the CPU backend).
//
// # Model
//
// A block is two residual lines, with pre-LayerNorm (weight only, eps 1e-5) and no biases:
//
//	x = x + AttnProj(Attention(LN1(x)))
//	x = x + FcProj(GELU(Fc(LN2(x))))
//
// followed by a final LayerNorm and the LM head tied to the token embedding (logits = lnf·wteᵀ).
// Parameters, gradients, the AdamW moments and the weight-decay mask are each one flat allocation
// with named views (ParamViews, in llm.c order); activations and their gradients are one slab each
// (ActViews). Config.NumParams is exact: Identity has L·C² fewer parameters than Baseline.
//
// # Tensor API (used by the PyTorch parity test)
//
// Parameters and gradients are exposed under nanoGPT's state_dict names and shapes (PyTorch
// nn.Linear layout, (out, in)):
//
//	transformer.wte.weight              (V, C)        also the LM head (lm_head.weight is tied)
//	transformer.wpe.weight              (BlockSize, C)
//	transformer.h.{i}.ln_1.weight       (C)
//	transformer.h.{i}.attn.c_attn.weight (3C, C) Baseline rows [Q K V]; (2C, C) Identity rows [K V]
//	transformer.h.{i}.attn.c_proj.weight (C, C)
//	transformer.h.{i}.ln_2.weight       (C)
//	transformer.h.{i}.mlp.c_fc.weight   (H, C)
//	transformer.h.{i}.mlp.c_proj.weight (C, H)
//	transformer.ln_f.weight             (C)
//
// A parity check reads:
//
//	m, _ := gpt.New(cfg, backend, seed)
//	m.SetParam(name, data)              // for every name in m.ParamTensors(), e.g. PyTorch's weights
//	m.ZeroGrad()                         // Backward accumulates
//	loss, _ := m.Forward(inputs, targets, B, T)  // (B, T) int32 each; mean cross-entropy, nats/token
//	logits := m.Logits()                 // (B, T, V)
//	m.Backward()                         // gradient of the mean loss
//	g, _ := m.Grad(name)                 // same names and shapes as the parameters
//
// ParamTensors and GradTensors return the same list as views (Tensor{Name, Shape, View}) for
// callers that work on the device. In the Identity model the attention scale defaults to
// 1/(2√dh); pass Config.AttnScale to match a reference that uses another.
//
// # Training
//
// NewTrainer(model, TrainConfig, *Dataset) builds an llm.c-style loop: Trainer.Step runs one
// optimizer step (GradAccum micro-batches of forward and backward, the global gradient norm,
// clipping passed to AdamW as GradScale, AdamW on the whole slab with the decay mask, linear warmup
// and cosine decay) and reads the loss back once. Trainer.Run loops to Config.Steps, evaluates on
// fixed validation batches and calls a metrics sink after every step; it stops cleanly at a step
// boundary when its context is cancelled. Batches come from a BatchTable seeded by
// TrainConfig.Seed, so every model trained with the same data, seed and batch shape sees the same
// batches in the same order. A NaN or Inf loss stops training with a *NonFiniteError before the
// parameters are touched.
//
// # Checkpoints
//
// Trainer.Save writes a safetensors file atomically (weights under the names above, the AdamW
// moments, config, step and batch seed in the metadata, last a CRC-32C of the whole file);
// LoadCheckpoint reads and checks one — its kind, its size against the one its header declares, a
// strictly decoded header, then the data, streamed — ReadCheckpointHeader reads the header alone
// (for a memory plan), Checkpoint.Restore resumes a Trainer bit-exactly and Checkpoint.LoadWeights
// loads a Model for sampling. A damaged file gives an error that names it and the problem: the
// loaders of checkpoints, tokenizer metadata and text have fuzz targets (fuzz_test.go, make fuzz).
//
// # Generation
//
// Model.Stream samples tokens (temperature, top-k, top-p) and hands each to a callback as it is
// drawn, keeping none; Model.Generate also returns them. Both run a Generator: a window of at most
// BlockSize tokens with a KV cache (each layer's K and V rows of the window), one new position per
// token (nn.Backend.AttentionDecodeForward), in every query mode. Positions are learned and
// absolute, so a full window slides to its last SampleConfig.Keep tokens (half the block unless
// set) and re-encodes them; Keep = BlockSize is nanoGPT's crop at every token. NoCache runs the
// whole window through Forward for every token instead: the same tokens, slower.
//
// # Memory
//
// PlanTraining and PlanSampling return a run's MemoryPlan — the five parameter slabs, the
// activations and logits of a micro-batch, scratch, tokens, host copies and data, in bytes — from
// the size functions New, NewTrainer and the passes allocate with, before anything is allocated.
// The commands compare it with what the backend offers (nn.MemoryReporter); FitBatch picks the
// largest micro-batch that fits (kvgpt train --batch-size auto).
//
// # Data
//
// Tokens are bytes (V = 256) or the characters of the text (CharTokenizer). NewDataset splits the
// tokens 90/10 into training and validation. GoCorpus reads the default corpus, the Go standard
// library sources found under `go env GOROOT`, so training works on a fresh machine without a
// download.
package gpt
