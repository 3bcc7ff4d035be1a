package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/pipeline"
)

// progress shows stage progress on stderr: a live, redrawn block on a terminal, plain
// timestamped lines otherwise (CI logs), or nothing.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	mode   string // live, plain, none
	start  time.Time
	order  []string
	state  map[string]string
	began  map[string]time.Time
	drawn  int
	stop   chan struct{}
	closed bool
}

func newProgress(mode string, w io.Writer) *progress {
	switch mode {
	case "auto", "":
		mode = "plain"
		if isTerminal(w) {
			mode = "live"
		}
	case "live", "plain", "none":
	default:
		mode = "plain"
	}
	p := &progress{w: w, mode: mode, start: time.Now(), state: map[string]string{}, began: map[string]time.Time{}, stop: make(chan struct{})}
	if mode == "live" {
		go p.ticker()
	}
	return p
}

// note shows lines of context before the stages start (what discovery found): timestamped in
// the plain view, above the live block on a terminal, nowhere with --progress none.
func (p *progress) note(lines ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range lines {
		switch p.mode {
		case "plain":
			p.plainf("%s", l)
		case "live":
			if p.drawn == 0 {
				fmt.Fprintf(p.w, "%s\n", l)
			}
		}
	}
}

// plan lists the stages up front, so the live view keeps pipeline order and shows waiting ones.
func (p *progress) plan(stages []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range stages {
		if _, ok := p.state[s]; !ok {
			p.order = append(p.order, s)
			p.state[s] = "waiting"
		}
	}
	p.redraw()
}

func (p *progress) ticker() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.redraw()
			p.mu.Unlock()
		}
	}
}

func (p *progress) event(e pipeline.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.state[e.Stage]; !ok {
		p.order = append(p.order, e.Stage)
	}
	switch e.Kind {
	case pipeline.EventStart:
		p.began[e.Stage] = time.Now()
		p.state[e.Stage] = "running"
		p.plainf("%s started", e.Stage)
	case pipeline.EventInfo:
		p.state[e.Stage] = "running: " + e.Msg
		p.plainf("%s: %s", e.Stage, e.Msg)
	case pipeline.EventDone:
		r := e.Result
		line := fmt.Sprintf("%s (%s)", strings.ToUpper(string(r.Status)), r.Duration.Round(time.Millisecond))
		if r.Summary != "" {
			line += " " + r.Summary
		} else if r.Error != "" {
			line += " " + firstLine(r.Error)
		}
		p.state[e.Stage] = "done: " + line
		p.plainf("%s %s", e.Stage, line)
	}
	p.redraw()
}

// toolWriter receives tool-install progress lines.
func (p *progress) toolWriter() io.Writer {
	return writerFunc(func(b []byte) (int, error) {
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			p.mu.Lock()
			p.plainf("tools: %s", l)
			if p.mode == "live" {
				p.state["tools"] = "running: " + l
				if !contains(p.order, "tools") {
					p.order = append([]string{"tools"}, p.order...)
				}
				p.redraw()
			}
			p.mu.Unlock()
		}
		return len(b), nil
	})
}

func (p *progress) plainf(format string, args ...any) {
	if p.mode != "plain" {
		return
	}
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

func (p *progress) redraw() {
	if p.mode != "live" || p.closed {
		return
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	spin := `|/-\`[int(time.Since(p.start)/(200*time.Millisecond))%4]
	for _, s := range p.order {
		st := p.state[s]
		mark := "…"
		switch {
		case strings.HasPrefix(st, "done: PASS"), strings.HasPrefix(st, "done: SKIPPED"):
			mark = "✓"
		case strings.HasPrefix(st, "done:"):
			mark = "✗"
		case strings.HasPrefix(st, "running"):
			mark = string(spin)
			st += fmt.Sprintf(" %s", time.Since(p.began[s]).Round(time.Second))
		}
		fmt.Fprintf(&b, "\x1b[2K %s %-9s %s\n", mark, s, truncate(st, 100))
	}
	p.drawn = len(p.order)
	io.WriteString(p.w, b.String())
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.redraw()
	p.closed = true
	close(p.stop)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
