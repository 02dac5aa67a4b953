//go:build !fakemetal || !cgo

package metal

const fakeDevice = false
