// Package metrics holds tollgate serve's Prometheus collectors, registered on a registry of the
// service's own (no global state), and served at /metrics.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the service's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	Events        *prometheus.CounterVec   // source, result (queued, duplicate, skipped)
	Requests      *prometheus.CounterVec   // endpoint, code
	AckLatency    prometheus.Histogram     // seconds from request start to acknowledgement
	ScanDuration  *prometheus.HistogramVec // kind, result
	Jobs          *prometheus.CounterVec   // kind, result (done, retry, failed)
	Notifications *prometheus.CounterVec   // target, result (delivered, retry, failed)
	DBChanges     prometheus.Counter
}

// Gauges reads the queue for the gauges at scrape time.
type Gauges interface {
	QueueDepth(ctx context.Context) (queued, running, failed, pendingNotifications, failedNotifications int, err error)
}

// New registers every collector; gauges are read from g when /metrics is scraped.
func New(g Gauges) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_serve_events_total",
			Help: "Push events received, by source and what happened to them."}, []string{"source", "result"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_serve_ingest_requests_total",
			Help: "Ingest requests by endpoint and HTTP status."}, []string{"endpoint", "code"}),
		AckLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tollgate_serve_ack_seconds",
			Help: "Time to acknowledge an ingest request (durably queued).", Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}),
		ScanDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tollgate_serve_scan_duration_seconds",
			Help: "Duration of scan and rescan jobs.", Buckets: prometheus.ExponentialBuckets(0.25, 2, 12)}, []string{"kind", "result"}),
		Jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_serve_jobs_total",
			Help: "Job attempts by kind and outcome."}, []string{"kind", "result"}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tollgate_serve_notifications_total",
			Help: "Notification delivery attempts by target and outcome (delivered, retry, failed)."}, []string{"target", "result"}),
		DBChanges: prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_serve_db_changes_total",
			Help: "Vulnerability DB changes seen (each queues a rescan of every stored image)."}),
	}
	r.MustRegister(m.Events, m.Requests, m.AckLatency, m.ScanDuration, m.Jobs, m.Notifications, m.DBChanges,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if g != nil {
		r.MustRegister(&gaugeCollector{g: g,
			queued:  prometheus.NewDesc("tollgate_serve_queue_depth", "Jobs waiting in the queue (queued) or running.", []string{"state"}, nil),
			failed:  prometheus.NewDesc("tollgate_serve_jobs_failed", "Jobs that ran out of attempts (recorded, not retried).", nil, nil),
			pending: prometheus.NewDesc("tollgate_serve_notifications_pending", "Notifications waiting for delivery or a retry.", nil, nil),
			nfailed: prometheus.NewDesc("tollgate_serve_notification_failures", "Notifications that ran out of attempts (recorded).", nil, nil),
		})
	}
	return m
}

type gaugeCollector struct {
	g                                Gauges
	queued, failed, pending, nfailed *prometheus.Desc
}

func (c *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queued
	ch <- c.failed
	ch <- c.pending
	ch <- c.nfailed
}

func (c *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, r, f, p, nf, err := c.g.QueueDepth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.queued, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(q), "queued")
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(r), "running")
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(f))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(p))
	ch <- prometheus.MustNewConstMetric(c.nfailed, prometheus.GaugeValue, float64(nf))
}
