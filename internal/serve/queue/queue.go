// Package queue runs tollgate serve's workers: each claims a job from the store under a lease
// it keeps renewing, runs it, and records the outcome (done, retry with backoff, or failed
// after the last attempt). Stopping drains: no new claims, running jobs finish, and jobs still
// running at the drain deadline are given back to the queue uncounted.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/metrics"
	"github.com/tollgate-dev/tollgate/internal/serve/retry"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

// Handler runs one job in a worker slot (0..Workers-1) and returns what to store.
type Handler func(ctx context.Context, slot int, job *store.Job) (*store.Result, error)

// Pool is a fixed set of workers on one store.
type Pool struct {
	Store   store.Store
	Handle  Handler
	Owner   string // this instance's name, recorded on claimed jobs
	Workers int
	Lease   time.Duration // renewed every Lease/3 while a job runs
	Poll    time.Duration // how often idle workers look for work
	Retry   retry.Policy
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Now     func() time.Time
	// OnFinish is called after a job's result is stored (e.g. to wake the notifier).
	OnFinish func()

	wake chan struct{}
	once sync.Once
}

func (p *Pool) init() {
	p.once.Do(func() {
		p.wake = make(chan struct{}, 1)
		if p.Workers <= 0 {
			p.Workers = 1
		}
		if p.Lease <= 0 {
			p.Lease = 2 * time.Minute
		}
		if p.Poll <= 0 {
			p.Poll = time.Second
		}
		if p.Now == nil {
			p.Now = time.Now
		}
		if p.Log == nil {
			p.Log = slog.New(slog.DiscardHandler)
		}
	})
}

// Wake makes an idle worker look for work now.
func (p *Pool) Wake() {
	p.init()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run starts the workers and blocks until stop ends and they have drained. Jobs run under
// jobs, which the caller cancels at the drain deadline to abandon what is still running.
func (p *Pool) Run(stop, jobs context.Context) {
	p.init()
	var wg sync.WaitGroup
	for slot := 0; slot < p.Workers; slot++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(stop, jobs, slot)
		}()
	}
	wg.Wait()
}

func (p *Pool) work(stop, jobs context.Context, slot int) {
	for {
		for stop.Err() == nil {
			job, err := p.Store.Claim(jobs, fmt.Sprintf("%s/%d", p.Owner, slot), p.Now(), p.Lease)
			if err != nil {
				if jobs.Err() == nil {
					p.Log.Error("claiming a job failed", "err", err)
				}
				break
			}
			if job == nil {
				break
			}
			p.run(jobs, slot, job)
		}
		select {
		case <-stop.Done():
			return
		case <-p.wake:
		case <-time.After(p.Poll):
		}
	}
}

// run executes one claimed job with a lease keeper beside it.
func (p *Pool) run(jobs context.Context, slot int, job *store.Job) {
	ctx, cancel := context.WithCancel(jobs)
	defer cancel()
	lost := make(chan struct{})
	keeperDone := make(chan struct{})
	go func() {
		defer close(keeperDone)
		t := time.NewTicker(p.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := p.Store.Extend(context.WithoutCancel(ctx), job, p.Now(), p.Lease); err != nil {
					p.Log.Error("renewing a job lease failed; abandoning the job", "job", job.ID, "image", job.Ref, "err", err)
					close(lost)
					cancel()
					return
				}
			}
		}
	}()
	log := p.Log.With("job", job.ID, "kind", job.Kind, "image", job.Ref, "attempt", job.Attempts)
	if job.Attempts > p.Retry.MaxAttempts && p.Retry.MaxAttempts > 0 {
		// Claimed again after its owner died on the last allowed attempt.
		cancel()
		<-keeperDone
		p.record(job, "failed", 0, p.Store.Fail(context.Background(), job, fmt.Sprintf("gave up after %d attempts", job.Attempts-1), p.Now()), log)
		return
	}
	log.Info("job started")
	start := time.Now()
	res, err := p.Handle(ctx, slot, job)
	took := time.Since(start)
	cancel()
	<-keeperDone
	select {
	case <-lost:
		log.Warn("job result dropped: the lease went to another worker")
		return
	default:
	}
	bg := context.Background()
	now := p.Now()
	switch {
	case err == nil:
		_, serr := p.Store.Finish(bg, job, res, now)
		p.record(job, "done", took, serr, log)
		if serr == nil && p.OnFinish != nil {
			p.OnFinish()
		}
	case jobs.Err() != nil:
		// Shutdown deadline: give the job back, this attempt does not count.
		p.record(job, "released", took, p.Store.Release(bg, job, now), log)
	case p.Retry.GiveUp(job.Attempts):
		log.Error("job failed for good", "err", err)
		p.record(job, "failed", took, p.Store.Fail(bg, job, err.Error(), now), log)
	default:
		delay := p.Retry.Delay(job.Attempts)
		log.Warn("job failed; will retry", "in", delay, "err", err)
		p.record(job, "retry", took, p.Store.Retry(bg, job, err.Error(), now.Add(delay), now), log)
	}
}

func (p *Pool) record(job *store.Job, result string, took time.Duration, err error, log *slog.Logger) {
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			log.Warn("job outcome dropped: the lease went to another worker", "outcome", result)
			return
		}
		log.Error("recording the job outcome failed", "outcome", result, "err", err)
		return
	}
	if result == "done" {
		log.Info("job done", "took", took.Round(time.Millisecond))
	}
	if p.Metrics != nil {
		p.Metrics.Jobs.WithLabelValues(job.Kind, result).Inc()
		if took > 0 && result != "released" {
			p.Metrics.ScanDuration.WithLabelValues(job.Kind, result).Observe(took.Seconds())
		}
	}
}
