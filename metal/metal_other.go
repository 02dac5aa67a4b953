//go:build !((darwin || fakemetal) && cgo)

package metal

import "github.com/kvgpt/kvgpt/nn"

func available() bool { return false }

func newBackend() (nn.Backend, error) { return nil, ErrUnavailable }
