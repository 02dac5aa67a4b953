// Package bpe holds kvgpt's subword vocabularies: byte-level BPE (byte-pair encoding) as GPT-2
// uses it. A Vocab turns any byte string into token ids and back, exactly.
//
// # Vocabularies
//
//	gpt2     GPT2(): OpenAI's r50k_base, 50,257 tokens; the ranks come from the table
//	         tiktoken-go carries (nothing is downloaded). Id 50256 is <|endoftext|>.
//	bpe:N    Train(text, N, progress): N tokens learned from the user's text. Ids 0–255 are the
//	         bytes, 256 … N−2 the merges in the order learned, N−1 is <|endoftext|>.
//
// # Encoding
//
// Encode first cuts text into pieces with GPT-2's pre-tokenizer (Split: words with their leading
// space, runs of digits, runs of symbols, whitespace, the contractions 's 't 're 've 'm 'll 'd);
// no token crosses a piece. Within a piece it starts from one token per byte and repeatedly merges
// the adjacent pair whose concatenation is the token of lowest rank (= id), the leftmost on ties,
// until no pair is a token; a piece that is a token is that token. This is tiktoken's rule, and
// with GPT2() it gives tiktoken's ids for valid UTF-8 text. Decode concatenates the tokens' bytes,
// so Decode(Encode(x)) == x for every byte string x, invalid UTF-8 included (Split keeps invalid
// bytes as they are and treats each as a symbol). <|endoftext|> is never produced by Encode: the
// caller inserts EOT() between documents.
//
// A corpus can be encoded in chunks: CutPoint finds, near the end of what has been read, a place
// to cut that changes no piece, however the text continues.
//
// # Training
//
// Train counts the distinct pieces of the text and merges, step by step, the most frequent
// adjacent pair of tokens (counted over the pieces' occurrences), ties going to the smallest pair
// of ids; an incremental index of pair counts and a heap make a step cost what it changes. The
// same text and size give the same vocabulary on every run and machine.
//
// # On disk
//
// MarshalJSON writes gpt2 as the JSON string "gpt2", and a trained vocabulary as
//
//	{"format":"kvgpt-bpe/1","size":4096,"merges":[[32,116],[104,101],…]}
//
// where merge k is the pair of ids whose concatenation is token 256+k. ParseJSON checks every
// field and returns a one-line error for a damaged file.
//
// A Vocab is immutable and safe for concurrent use; each Encode call uses a piece cache of its own.
package bpe
