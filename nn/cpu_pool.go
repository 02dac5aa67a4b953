package nn

import (
	"sync"
	"sync/atomic"
)

// job is the work of one op, split into n items (rows, tiles, (batch, head) pairs …): run
// processes items [lo, hi). A job is a pointer to an argument struct that the CPU backend keeps
// for its op, so handing it to the pool allocates nothing.
type job interface {
	run(lo, hi int)
}

// pool is a fixed set of worker goroutines that, together with the calling goroutine, share the
// items of one job at a time. Items are claimed grain at a time from an atomic counter, so uneven
// items (causal attention rows, edge tiles) balance themselves.
type pool struct {
	threads int
	wake    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	stopped atomic.Bool

	// The current job, set by run before it wakes any worker.
	job   job
	n     int
	grain int
	next  atomic.Int64
}

func newPool(threads int) *pool {
	p := &pool{threads: threads, wake: make(chan struct{}, threads)}
	for range threads - 1 {
		go p.worker()
	}
	return p
}

func (p *pool) worker() {
	for range p.wake {
		p.claim()
		p.wg.Done()
	}
}

// claim runs items of the current job until none is left.
func (p *pool) claim() {
	g := int64(p.grain)
	for {
		lo := int(p.next.Add(g) - g)
		if lo >= p.n {
			return
		}
		p.job.run(lo, min(lo+p.grain, p.n))
	}
}

// run processes items [0, n) of j, grain items at a time, on the calling goroutine and as many
// workers as there are grains beyond the first. It returns when every item is done.
func (p *pool) run(j job, n, grain int) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	grains := (n + grain - 1) / grain
	helpers := min(p.threads-1, grains-1)
	if helpers <= 0 || p.stopped.Load() { // after stop, the caller does all the work
		j.run(0, n)
		return
	}
	p.job, p.n, p.grain = j, n, grain
	p.next.Store(0)
	p.wg.Add(helpers)
	for range helpers {
		p.wake <- struct{}{}
	}
	p.claim()
	p.wg.Wait()
	p.job = nil
}

// stop ends the workers.
func (p *pool) stop() {
	p.once.Do(func() {
		p.stopped.Store(true)
		close(p.wake)
	})
}

// grainFor returns a grain that splits n items into about 4 grains per thread, each at least
// minGrain items, so that small ops are not split into pieces smaller than their overhead.
func (p *pool) grainFor(n, minGrain int) int {
	return max(minGrain, (n+4*p.threads-1)/(4*p.threads))
}
