package bpe

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJSONRoundTrip(t *testing.T) {
	t.Run("vocab=gpt2", func(t *testing.T) {
		v := gpt2Vocab(t)
		data, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, `"gpt2"`, string(data))
		back, err := ParseJSON(data)
		require.NoError(t, err)
		require.Same(t, v, back)
	})
	t.Run("vocab=bpe:261", func(t *testing.T) {
		v, err := Train([]byte("aaabdaaabac"), 261, nil)
		require.NoError(t, err)
		data, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, `{"format":"kvgpt-bpe/1","size":261,"merges":[[97,97],[97,98],[256,257],[97,99]]}`, string(data))
	})
	t.Run("vocab=bpe:257", func(t *testing.T) {
		v, err := Train([]byte("a"), 257, nil)
		require.NoError(t, err)
		data, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, `{"format":"kvgpt-bpe/1","size":257,"merges":[]}`, string(data))
		back, err := ParseJSON(data)
		require.NoError(t, err)
		require.Equal(t, 257, back.Size())
	})
	t.Run("vocab=bpe:1024", func(t *testing.T) {
		v := trainedVocab(t)
		data, err := json.Marshal(v)
		require.NoError(t, err)
		back, err := ParseJSON(data)
		require.NoError(t, err)
		require.Equal(t, "bpe:1024", back.Name())
		require.Equal(t, v.merges, back.merges)
		for id := range int32(v.Size()) {
			require.Equal(t, v.TokenBytes(id), back.TokenBytes(id))
		}
		text := ownSource(t)
		require.Equal(t, v.Encode(nil, text), back.Encode(nil, text))
	})
	t.Run("inside a struct", func(t *testing.T) {
		type meta struct {
			Vocab *Vocab `json:"vocab"`
		}
		data, err := json.Marshal(meta{trainedVocab(t)})
		require.NoError(t, err)
		var m meta
		require.NoError(t, json.Unmarshal(data, &m))
		require.Equal(t, trainedVocab(t).merges, m.Vocab.merges)
		require.Error(t, json.Unmarshal([]byte(`{"vocab":"gpt3"}`), &m))
	})
}

func TestParseJSONErrors(t *testing.T) {
	ok := func(merges string) string { // a valid bpe:259 but for merges
		return `{"format":"kvgpt-bpe/1","size":259,"merges":` + merges + `}`
	}
	doubling := "[[61,61]"
	for k := 1; k < 9; k++ {
		doubling += fmt.Sprintf(",[%d,%d]", 255+k, 255+k)
	}
	doubling += "]"
	cases := []struct{ name, data, want string }{
		{"empty", ``, "not kvgpt-bpe/1 JSON"},
		{"null", `null`, "no format tag"},
		{"unknown name", `"gpt3"`, `vocabulary "gpt3": unknown`},
		{"number", `12`, "not kvgpt-bpe/1 JSON"},
		{"empty object", `{}`, "no format tag"},
		{"other format", `{"format":"kvgpt-bpe/2","size":259,"merges":[[1,2],[3,4]]}`, `format "kvgpt-bpe/2", want "kvgpt-bpe/1"`},
		{"no size", `{"format":"kvgpt-bpe/1","merges":[]}`, "no size"},
		{"size too small", `{"format":"kvgpt-bpe/1","size":256,"merges":[]}`, "size 256 is not in [257, 1048576]"},
		{"size too large", `{"format":"kvgpt-bpe/1","size":99999999,"merges":[]}`, "size 99999999 is not in"},
		{"fewer merges than size", ok(`[[97,98]]`), "1 merges for size 259, want 2"},
		{"merge of three", ok(`[[97,98],[1,2,3]]`), "merge 1 (token 257) has 3 ids, want 2"},
		{"merge of one", ok(`[[97,98],[1]]`), "merge 1 (token 257) has 1 ids, want 2"},
		{"id from the future", ok(`[[97,98],[256,257]]`), "merge 1 (token 257) uses id 257, not in [0, 257)"},
		{"negative id", ok(`[[-1,98],[1,2]]`), "merge 0 (token 256) uses id -1"},
		{"end of text in a merge", `{"format":"kvgpt-bpe/1","size":258,"merges":[[97,257]]}`, "uses id 257, not in [0, 256)"},
		{"same token twice", ok(`[[97,98],[97,98]]`), `tokens 256 and 257 are both "ab"`},
		{"same token another way", `{"format":"kvgpt-bpe/1","size":261,"merges":[[97,98],[98,99],[256,99],[97,257]]}`, `tokens 258 and 259 are both "abc"`},
		{"token too long", `{"format":"kvgpt-bpe/1","size":266,"merges":` + doubling + `}`, "token 264 is 512 bytes long, more than 256"},
		{"fraction", ok(`[[97.5,98],[1,2]]`), "not kvgpt-bpe/1 JSON"},
		{"huge id", ok(`[[1e30,98],[1,2]]`), "not kvgpt-bpe/1 JSON"},
		{"string id", ok(`[["a",98],[1,2]]`), "not kvgpt-bpe/1 JSON"},
		{"unknown field", `{"format":"kvgpt-bpe/1","size":257,"merges":[],"extra":1}`, `unknown field "extra"`},
		{"data after", ok(`[[97,98],[1,2]]`) + ` {}`, "data after the JSON object"},
		{"truncated", ok(`[[97,98],[1,2]]`)[:40], "not kvgpt-bpe/1 JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseJSON([]byte(c.data))
			require.ErrorContains(t, err, c.want)
			require.NotContains(t, err.Error(), "\n")
			require.True(t, strings.HasPrefix(err.Error(), "bpe: "), err.Error())
		})
	}
}

// FuzzParseJSON feeds damaged vocabularies to ParseJSON: it must return an error or a vocabulary
// that writes back to the same merges, never panic.
func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`{"format":"kvgpt-bpe/1","size":261,"merges":[[97,97],[97,98],[256,257],[97,99]]}`))
	f.Add([]byte(`"gpt2"`))
	f.Add([]byte(`{"format":"kvgpt-bpe/1","size":257,"merges":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseJSON(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(v)
		require.NoError(t, err)
		back, err := ParseJSON(out)
		require.NoError(t, err)
		require.Equal(t, v.Name(), back.Name())
		require.Equal(t, v.merges, back.merges)
	})
}
