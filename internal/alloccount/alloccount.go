// Package alloccount is the CPU backend that counts the bytes of the buffers it allocates: what the
// tests of gpt's and bench's memory plans check the plans against.
package alloccount

import "github.com/kvgpt/kvgpt/nn"

// CPU is nn.CPU with a count of the bytes of every buffer allocated through it.
type CPU struct {
	*nn.CPU
	Bytes int64
}

// New returns a counting CPU backend on threads workers.
func New(threads int) *CPU { return &CPU{CPU: nn.NewCPU(threads)} }

// Alloc allocates n float32s and counts them.
func (c *CPU) Alloc(n int) nn.View {
	c.Bytes += 4 * int64(n)
	return c.CPU.Alloc(n)
}

// AllocInt allocates n int32s and counts them.
func (c *CPU) AllocInt(n int) nn.IntView {
	c.Bytes += 4 * int64(n)
	return c.CPU.AllocInt(n)
}
