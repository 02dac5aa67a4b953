// Package tokens holds token sequences in memory and on disk: Seq, a sequence of token ids that
// training and evaluation read by copying ranges, either from memory or from memory-mapped token
// files; the token files themselves, in llm.c's format (a 256 × int32 header — magic, version, token
// count — then the tokens as uint16, or uint32 where the vocabulary needs it) or as nanoGPT's headerless
// uint16 train.bin and val.bin; and a dataset directory, the token files of a training and a
// validation split with a small JSON file naming their vocabulary (Dir).
//
// A memory-mapped file is never read whole: the pages a batch touches are read by the operating
// system when it is copied, so the memory a run holds does not grow with the corpus.
package tokens
