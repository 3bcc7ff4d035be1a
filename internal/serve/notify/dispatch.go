package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate-dev/tollgate/internal/serve/metrics"
	"github.com/tollgate-dev/tollgate/internal/serve/retry"
	"github.com/tollgate-dev/tollgate/internal/serve/store"
)

// Dispatcher delivers the outbox: it claims a pending notification, sends it, and records the
// outcome. A failed attempt is retried with backoff; after the last attempt the delivery is
// marked failed (visible in /api/v1/notifications and tollgate_serve_notification_failures).
type Dispatcher struct {
	Store   store.Store
	Targets map[string]Target
	Client  *http.Client
	Owner   string
	Retry   retry.Policy
	Poll    time.Duration
	Lease   time.Duration
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Now     func() time.Time

	wake chan struct{}
}

// Wake makes the dispatcher look at the outbox now instead of at its next poll.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Init prepares the dispatcher's defaults; Run calls it.
func (d *Dispatcher) Init() {
	if d.wake == nil {
		d.wake = make(chan struct{}, 1)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Poll <= 0 {
		d.Poll = time.Second
	}
	if d.Lease <= 0 {
		d.Lease = time.Minute
	}
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 15 * time.Second}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
}

// Run delivers until ctx ends; a delivery in progress is finished first (bounded by the
// client's timeout).
func (d *Dispatcher) Run(ctx context.Context) {
	d.Init()
	for {
		for ctx.Err() == nil {
			n, err := d.Store.ClaimNotification(context.WithoutCancel(ctx), d.Owner, d.Now(), d.Lease)
			if err != nil {
				d.Log.Error("claiming a notification failed", "err", err)
				break
			}
			if n == nil {
				break
			}
			d.deliver(context.WithoutCancel(ctx), n)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-time.After(d.Poll):
		}
	}
}

func (d *Dispatcher) deliver(ctx context.Context, n *store.Notification) {
	err := d.send(ctx, n)
	now := d.Now()
	result := "delivered"
	switch {
	case err == nil:
		err = d.Store.Delivered(ctx, n, now)
		d.Log.Info("notification delivered", "target", n.Target, "delivery", n.ID, "attempt", n.Attempts)
	case d.Retry.GiveUp(n.Attempts):
		result = "failed"
		d.Log.Error("notification failed for good", "target", n.Target, "delivery", n.ID, "attempts", n.Attempts, "err", err)
		err = d.Store.FailNotification(ctx, n, err.Error(), now)
	default:
		result = "retry"
		delay := d.Retry.Delay(n.Attempts)
		d.Log.Warn("notification failed; will retry", "target", n.Target, "delivery", n.ID, "attempt", n.Attempts, "in", delay, "err", err)
		err = d.Store.RetryNotification(ctx, n, err.Error(), now.Add(delay), now)
	}
	if err != nil {
		d.Log.Error("recording a notification's outcome failed", "delivery", n.ID, "err", err)
	}
	if d.Metrics != nil {
		d.Metrics.Notifications.WithLabelValues(n.Target, result).Inc()
	}
}

// send renders and posts one delivery; any answer but 2xx is an error. Errors name the
// target and status only, never its URL or token.
func (d *Dispatcher) send(ctx context.Context, n *store.Notification) error {
	t, ok := d.Targets[n.Target]
	if !ok {
		return fmt.Errorf("target %q is no longer configured", n.Target)
	}
	var m Message
	if err := json.Unmarshal(n.Payload, &m); err != nil {
		return fmt.Errorf("stored message unreadable: %w", err)
	}
	m.ScanID = n.ScanID
	req, err := t.Request(ctx, m, strconv.FormatInt(n.ID, 10))
	if err != nil {
		return fmt.Errorf("%s: build request: %w", n.Target, err)
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // drop the URL (a Slack URL is a secret)
		}
		return fmt.Errorf("%s: %v", n.Target, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: answered %s", n.Target, resp.Status)
	}
	return nil
}
