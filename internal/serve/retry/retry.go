// Package retry is the backoff policy shared by scan jobs and notification deliveries.
package retry

import "time"

// Policy retries up to MaxAttempts times, waiting Base, 2*Base, 4*Base... capped at Max.
type Policy struct {
	MaxAttempts int
	Base        time.Duration
	Max         time.Duration
}

// Delay is the wait after the given failed attempt (1-based).
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Base
	if d <= 0 {
		d = time.Second
	}
	for i := 1; i < attempt; i++ {
		d *= 2
		if p.Max > 0 && d >= p.Max {
			return p.Max
		}
	}
	if p.Max > 0 && d > p.Max {
		return p.Max
	}
	return d
}

// GiveUp reports whether the given attempt was the last one allowed.
func (p Policy) GiveUp(attempt int) bool {
	max := p.MaxAttempts
	if max <= 0 {
		max = 1
	}
	return attempt >= max
}
