package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

// Batcher commits pushes in groups: every request waiting while one transaction commits goes
// into the next one, so the cost of a durable commit (an fsync) is shared under load while an
// idle service still commits each request at once.
type Batcher struct {
	st       store.Store
	reqs     chan *batchReq
	maxBatch int
	now      func() time.Time
	quit     chan struct{} // closed by Stop
	done     chan struct{} // closed when the goroutine has ended
}

type batchReq struct {
	pushes []store.Push
	reply  chan batchReply
}

type batchReply struct {
	res []store.IngestResult
	err error
}

// ErrStopped is returned by Submit after Stop.
var ErrStopped = errors.New("ingest: shutting down")

// NewBatcher starts the committing goroutine; Stop ends it.
func NewBatcher(st store.Store, now func() time.Time) *Batcher {
	b := &Batcher{st: st, reqs: make(chan *batchReq, 1024), maxBatch: 500, now: now, quit: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

// Submit queues pushes durably and returns once they are committed.
func (b *Batcher) Submit(ctx context.Context, pushes []store.Push) ([]store.IngestResult, error) {
	if len(pushes) == 0 {
		return nil, nil
	}
	r := &batchReq{pushes: pushes, reply: make(chan batchReply, 1)}
	select {
	case b.reqs <- r:
	case <-b.quit:
		return nil, ErrStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once handed over, the commit happens whether or not the client waits; the caller's
	// context only bounds the wait (the client then sees an error and retries: a duplicate
	// push is harmless, a lost one is not).
	select {
	case rep := <-r.reply:
		return rep.res, rep.err
	case <-b.done:
		select {
		case rep := <-r.reply:
			return rep.res, rep.err
		default:
			return nil, ErrStopped
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stop finishes the requests already handed over and ends the goroutine. Call it after the
// HTTP server has stopped taking requests.
func (b *Batcher) Stop() {
	close(b.quit)
	<-b.done
}

func (b *Batcher) run() {
	defer close(b.done)
	for {
		var first *batchReq
		select {
		case first = <-b.reqs:
		case <-b.quit:
			select {
			case first = <-b.reqs: // finish what was handed over before Stop
			default:
				return
			}
		}
		batch := []*batchReq{first}
		n := len(first.pushes)
	drain:
		for n < b.maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
				n += len(r.pushes)
			default:
				break drain
			}
		}
		all := make([]store.Push, 0, n)
		for _, r := range batch {
			all = append(all, r.pushes...)
		}
		// Not the request's context: a client hanging up must not roll back other requests.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := b.st.Ingest(ctx, all, b.now())
		cancel()
		off := 0
		for _, r := range batch {
			if err != nil {
				r.reply <- batchReply{err: err}
				continue
			}
			r.reply <- batchReply{res: res[off : off+len(r.pushes)]}
			off += len(r.pushes)
		}
	}
}
